//! The bgpd configuration: the TOML file, checked so well that a mistake never reaches a
//! running router, and compared across reloads so that a reload resets only what it must.
//!
//! Data flow:
//!
//! ```text
//! text ──► load (toml, with recovery) ──► schema (serde, deny_unknown_fields, spans)
//!      ──► validate (ranges, defaults, references, cross checks) ──► model::Config
//!                       │
//!                       └──► Diagnostic: FILE:LINE:COLUMN: [warning: ]message, all at once
//! old Config + new Config ──► diff ──► ConfigDiff (added, removed, reset, soft)
//! ```
//!
//! Entry points: [`Config::load`], [`Config::from_str`], [`diff()`]. The file format is
//! documented key by key in `docs/config.md`.
//!
//! Standards the model speaks for: RFC 4271 (hold time, connect retry, BGP identifier),
//! RFC 6793 (4-octet ASNs, AS_TRANS), RFC 7607 (AS 0), RFC 4456 (route reflection, cluster
//! ID), RFC 2385 (TCP-MD5), RFC 5082 (GTSM), RFC 4760 (address families), RFC 7911 (ADD-PATH),
//! RFC 4724 and RFC 9494 (graceful restart, long-lived), RFC 4486 (max-prefix Cease),
//! RFC 8212 (eBGP default deny), RFC 1997 and RFC 8092 (communities, large communities).

mod community;
mod diagnostic;
mod diff;
mod load;
mod model;
mod pattern;
mod policy;
mod schema;
mod types;
mod validate;

use std::path::Path;

pub use community::{Community, LargeCommunity};
pub use diagnostic::{Diagnostic, Severity};
pub use diff::{diff, ConfigDiff, NeighborChange};
pub use model::{
    Bfd, BfdAuth, Bmp, Calico, Config, Control, Global, GracefulRestart, Kernel, Metrics, Neighbor,
    Originate, Peer, PoolRoute, PrefixLimit,
};
pub use pattern::{PatternError, PrefixPattern};
pub use policy::{AsPathMatch, Match, Policy, Prepend, Set, Term, TermAction, Verdict};
pub use types::{
    AddPathMode, AddressFamily, Asn, GtsmHops, HoldTime, RestartTime, RouterId, Secret, StaleTime,
};

use diagnostic::Diagnostics;

/// What loading gives: the configuration and its warnings, or every diagnostic (errors and
/// warnings, in file order) when there is at least one error.
pub type LoadResult = Result<(Config, Vec<Diagnostic>), Vec<Diagnostic>>;

impl Config {
    /// Reads and validates the file at `path`. Diagnostics name the file as `path` is written;
    /// relative `password_file`s are read from the file's directory.
    pub fn load(path: impl AsRef<Path>) -> LoadResult {
        let path = path.as_ref();
        let name = path.display().to_string();
        let position = |line, column, message: String| Diagnostic {
            file: name.clone(),
            line,
            column,
            severity: Severity::Error,
            message,
        };
        let bytes = std::fs::read(path)
            .map_err(|e| vec![position(1, 1, format!("cannot read configuration: {e}"))])?;
        match String::from_utf8(bytes) {
            Ok(text) => Config::from_str(&text, &name),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes());
                let (line, column) = diagnostic::line_column(&text, valid);
                Err(vec![position(
                    line,
                    column,
                    "the file is not valid UTF-8".to_owned(),
                )])
            }
        }
    }

    /// Validates `text`, naming it `file_name` in diagnostics. Relative `password_file`s are
    /// read from `file_name`'s directory (the current directory if it has none).
    #[allow(clippy::should_implement_trait)] // two arguments; not `FromStr`
    pub fn from_str(text: &str, file_name: &str) -> LoadResult {
        let base_dir = Path::new(file_name)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut diags = Diagnostics::new(file_name, text);
        let config = load::parse_document(text, &mut diags)
            .and_then(|doc| validate::validate(doc, &mut diags, base_dir));
        let all = diags.finish();
        match config {
            Some(config) if !all.iter().any(Diagnostic::is_error) => Ok((config, all)),
            _ => Err(all),
        }
    }
}
