//! TCP-MD5 keys: `password` inline or `password_file`, never both. The file is read at load
//! time (relative paths from the configuration file's directory), one trailing newline is
//! stripped, and a file that everyone may read is worth a warning.

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
            let text = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    ck.error(
                        f.span(),
                        format!("cannot read password file `{}`: {e}", path.display()),
                    );
                    return None;
                }
            };
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
