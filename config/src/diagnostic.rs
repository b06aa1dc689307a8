//! Diagnostics: every error and warning the loader produces, positioned as `FILE:LINE:COLUMN`.
//!
//! The loader works with byte spans (what `toml` and `toml::Spanned` report); [`Diagnostics`]
//! collects messages against spans and turns them into [`Diagnostic`]s with 1-based line and
//! column numbers once the whole file has been checked, so that every problem is reported at once.

use std::fmt;
use std::ops::Range;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// The configuration is accepted, but probably not what the operator meant.
    Warning,
}

/// One error or warning about a configuration file.
///
/// `Display` gives exactly `FILE:LINE:COLUMN: message` for errors and
/// `FILE:LINE:COLUMN: warning: message` for warnings; line and column are 1-based, the column
/// counts characters (not bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line of the offending value.
    pub line: usize,
    /// 1-based column (in characters) of the offending value.
    pub column: usize,
    /// Error or warning.
    pub severity: Severity,
    /// A plain sentence, without position or severity prefix.
    pub message: String,
}

impl Diagnostic {
    /// True for [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Collects diagnostics for one source text, positioned by byte span.
#[derive(Debug)]
pub(crate) struct Diagnostics<'a> {
    file: &'a str,
    text: &'a str,
    items: Vec<(usize, Severity, String)>,
    partial: Vec<Range<usize>>,
}

impl<'a> Diagnostics<'a> {
    /// A collector for `text`, which was read from `file`.
    pub(crate) fn new(file: &'a str, text: &'a str) -> Self {
        Diagnostics {
            file,
            text,
            items: Vec::new(),
            partial: Vec::new(),
        }
    }

    /// Records an error at the start of `span`.
    pub(crate) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.items
            .push((span.start, Severity::Error, message.into()));
    }

    /// Records a warning at the start of `span`.
    pub(crate) fn warning(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.items
            .push((span.start, Severity::Warning, message.into()));
    }

    /// The 1-based line of byte `offset`, for messages such as "first defined at line 12".
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        line_column(self.text, offset).0
    }

    /// True when at least one error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// Remembers that the piece (table, neighbor, term) at `span` was read with schema errors,
    /// so its bad keys were dropped.
    pub(crate) fn mark_partial(&mut self, span: Range<usize>) {
        self.partial.push(span);
    }

    /// Whether the piece at `span` was read with schema errors: checks that draw conclusions
    /// from a key's absence (a "missing" policy, an unconditional term) hold back, since the
    /// key may have been dropped for an error already reported.
    pub(crate) fn is_partial(&self, span: &Range<usize>) -> bool {
        self.partial.contains(span)
    }

    /// How many errors were recorded so far (to tell whether a step added any).
    pub(crate) fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|(_, s, _)| *s == Severity::Error)
            .count()
    }

    /// All diagnostics, in file order (errors before warnings at the same position).
    pub(crate) fn finish(self) -> Vec<Diagnostic> {
        let mut items = self.items;
        items.sort_by_key(|(offset, severity, _)| (*offset, *severity));
        items
            .into_iter()
            .map(|(offset, severity, message)| {
                let (line, column) = line_column(self.text, offset);
                Diagnostic {
                    file: self.file.to_owned(),
                    line,
                    column,
                    severity,
                    message,
                }
            })
            .collect()
    }
}

/// 1-based line and character column of byte `offset` in `text`; offsets past the end (or inside
/// a multi-byte character) are clamped to the nearest preceding character boundary.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 1), (1, 2));
        assert_eq!(line_column(text, 3), (2, 1));
        // 'é' is two bytes; 'f' is on line 3.
        assert_eq!(line_column(text, 8), (3, 1));
        // Inside the 'é': clamped back to its start.
        assert_eq!(line_column(text, 6), (2, 3));
        assert_eq!(line_column(text, 1000), (3, 2));
    }

    #[test]
    fn display_formats() {
        let mut d = Diagnostic {
            file: "bgpd.toml".into(),
            line: 3,
            column: 7,
            severity: Severity::Error,
            message: "bad".into(),
        };
        assert_eq!(d.to_string(), "bgpd.toml:3:7: bad");
        d.severity = Severity::Warning;
        assert_eq!(d.to_string(), "bgpd.toml:3:7: warning: bad");
    }
}
