//! TCP-MD5 keys: `password` inline or `password_file`, never both. The file is read at load
//! time (relative paths from the configuration file's directory), one trailing newline is
//! stripped, and a file that everyone may read is worth a warning. The read is bounded: a path
//! such as `/dev/zero` is an error, not an out-of-memory abort of the loader (and of a running
//! daemon on reload).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::helpers::Checker;
use crate::schema::{NeighborSchema, Str};
use crate::types::Secret;

/// The neighbor's key: `Some(None)` when it has none, `None` after an error.
pub(super) fn password(ck: &mut Checker<'_, '_>, s: &NeighborSchema) -> Option<Option<Secret>> {
    match (&s.password, &s.password_file) {
        (None, None) => Some(None),
        (Some(_), Some(f)) => {
            ck.error(
                f.span(),
                "`password` and `password_file` are mutually exclusive",
            );
            None
        }
        (Some(p), None) => key(ck, p.get_ref().clone(), p, "`password`").map(Some),
        (None, Some(f)) => {
            let path = ck.base_dir.join(f.get_ref());
            let text = match read_bounded(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    ck.error(
                        f.span(),
                        format!("cannot read password file `{}`: {e}", path.display()),
                    );
                    return None;
                }
            };
            if text.len() > MAX_FILE_LEN {
                ck.error(
                    f.span(),
                    format!(
                        "the key in `{}` must be 1..={} bytes long (TCP-MD5 key); the file \
                         holds more than {MAX_FILE_LEN} bytes",
                        path.display(),
                        Secret::MAX_LEN
                    ),
                );
                return None;
            }
            let Ok(text) = String::from_utf8(text) else {
                ck.error(
                    f.span(),
                    format!("password file `{}` is not UTF-8 text", path.display()),
                );
                return None;
            };
            warn_if_world_readable(ck, &path, f);
            let trimmed = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            let what = format!("the key in `{}`", path.display());
            key(ck, trimmed.to_owned(), f, &what).map(Some)
        }
    }
}

/// Longest password file worth reading: the longest key and a CRLF.
const MAX_FILE_LEN: usize = Secret::MAX_LEN + 2;

/// At most one byte more than [`MAX_FILE_LEN`] of the file at `path`: enough to tell that it is
/// too long, however long it is (or endless, like `/dev/zero`).
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let limit = u64::try_from(MAX_FILE_LEN)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Checks the key's length.
fn key(ck: &mut Checker<'_, '_>, text: String, at: &Str, what: &str) -> Option<Secret> {
    let len = text.len();
    let secret = Secret::new(text);
    if secret.is_none() {
        ck.error(
            at.span(),
            format!(
                "{what} must be 1..={} bytes long (TCP-MD5 key), not {len}",
                Secret::MAX_LEN
            ),
        );
    }
    secret
}

#[cfg(unix)]
fn warn_if_world_readable(ck: &mut Checker<'_, '_>, path: &Path, at: &Str) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o004 != 0 {
            ck.warning(
                at.span(),
                format!(
                    "password file `{}` is readable by everyone (mode {mode:04o}); \
                     run `chmod o-r` on it",
                    path.display()
                ),
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_world_readable(_ck: &mut Checker<'_, '_>, _path: &Path, _at: &Str) {}

#[cfg(test)]
mod tests {
    use crate::Config;

    const NEIGHBOR: &str = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n\
        [[neighbor]]\nname = \"a\"\naddress = \"192.0.2.2\"\nremote_as = 64512\n";

    fn errors(text: &str, file: &str) -> Vec<String> {
        match Config::from_str(text, file) {
            Ok(_) => vec![],
            Err(diags) => diags
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// Reading the whole file aborted the loader (out of memory) on an endless one: seen while
    /// writing the `config` fuzz target, confirmed with it (libFuzzer: out-of-memory); the input
    /// is kept as `config/fuzz/corpus/config/crash-devzero-password-file`.
    #[cfg(unix)]
    #[test]
    fn endless_password_file_is_an_error() {
        let text = format!("{NEIGHBOR}password_file = \"/dev/zero\"\n");
        assert_eq!(
            errors(&text, "bgpd.toml"),
            [
                "bgpd.toml:8:17: the key in `/dev/zero` must be 1..=80 bytes long (TCP-MD5 key); \
                 the file holds more than 82 bytes"
            ]
        );
    }

    #[test]
    fn password_file_length_limits() {
        let dir = std::env::temp_dir().join(format!("bgpd-config-secret-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("bgpd.toml").display().to_string();
        let text = format!("{NEIGHBOR}password_file = \"a.key\"\n");
        let mut results = Vec::new();
        for contents in [
            format!("{}\r\n", "k".repeat(80)),
            format!("{}\n", "k".repeat(81)),
            format!("{}\r\n", "k".repeat(81)),
            format!("{}é", "k".repeat(81)),
        ] {
            let _ = std::fs::write(dir.join("a.key"), contents);
            results.push(errors(&text, &file).len());
        }
        let _ = std::fs::remove_dir_all(&dir);
        // 80 bytes and a CRLF: accepted; 81 bytes with a newline: too long (the length is
        // known); longer files: too long, whatever their last byte.
        assert_eq!(results, [0, 1, 1, 1]);
    }
}
