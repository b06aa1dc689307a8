//! The checks of the `config` fuzz target, shared with the corpus replay test
//! (`config/tests/fuzz_corpus.rs`), which includes this file by path.
//!
//! Whatever the bytes: loading never panics; a UTF-8 text is either accepted (with warnings
//! only) or rejected with at least one error; every diagnostic names the file and points at a
//! line and column inside the text; loading the same text twice gives the same result; and an
//! accepted configuration reloaded onto itself changes nothing.

use config::{diff, Config, Diagnostic};

/// Loads `data` (if it is UTF-8) as the file `file_name` and checks the result.
pub fn config(data: &[u8], file_name: &str) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = Config::from_str(text, file_name);
    let diagnostics = match &result {
        Ok((config, warnings)) => {
            assert!(
                !warnings.iter().any(Diagnostic::is_error),
                "accepted with an error"
            );
            let same = diff(config, config);
            assert!(
                same.is_empty(),
                "a configuration differs from itself: {same}"
            );
            warnings
        }
        Err(diagnostics) => {
            assert!(
                diagnostics.iter().any(Diagnostic::is_error),
                "rejected without an error"
            );
            diagnostics
        }
    };
    // Characters in each line, counted once: an input may draw hundreds of diagnostics.
    let lines: Vec<usize> = text.split('\n').map(|l| l.chars().count()).collect();
    for d in diagnostics {
        assert_inside(&lines, file_name, d);
    }
    assert!(
        Config::from_str(text, file_name) == result,
        "loading the same text twice gives different results"
    );
}

/// `d` is `FILE:LINE:COLUMN: ...` with LINE a line of the text (`lines` holds the length of
/// each, in characters) and COLUMN at most one past the end of that line (an error at the end
/// of a line or of the text).
fn assert_inside(lines: &[usize], file_name: &str, d: &Diagnostic) {
    assert_eq!(d.file, file_name, "{d}");
    let length = d.line.checked_sub(1).and_then(|i| lines.get(i)).copied();
    assert!(length.is_some(), "line outside the text: {d}");
    let length = length.unwrap_or(0);
    assert!(
        d.column >= 1 && d.column <= length + 1,
        "column outside line {} ({length} characters): {d}",
        d.line
    );
    let prefix = format!("{file_name}:{}:{}: ", d.line, d.column);
    assert!(d.to_string().starts_with(&prefix), "{d}");
    assert!(!d.message.is_empty(), "empty message: {d}");
}
