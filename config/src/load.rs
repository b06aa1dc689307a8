//! From text to [`Document`]: TOML parsing with recovery, then serde deserialization of each
//! piece (each table, each `[[neighbor]]`, each policy) on its own, so that every syntax error
//! and at least one schema error per piece is reported in one run.

use serde::de::{Deserialize, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::Diagnostics;
use crate::schema::{Document, TOP_LEVEL_KEYS};

/// Parses `text` into the schema layer. Returns `None` when the TOML itself is malformed (the
/// syntax errors are in `diags`); schema errors are recorded and the piece is skipped.
pub(crate) fn parse_document(text: &str, diags: &mut Diagnostics<'_>) -> Option<Document> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            diags.error(e.span().unwrap_or(0..0), toml_message(e.message()));
        }
        return None;
    }
    let mut doc = Document::default();
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "global" => doc.global = piece(value, diags),
            "control" => doc.control = piece(value, diags),
            "metrics" => doc.metrics = piece(value, diags),
            "kernel" => doc.kernel = piece(value, diags),
            "originate" => doc.originate = array_of_tables(value, "originate", diags),
            "neighbor" => doc.neighbors = array_of_tables(value, "neighbor", diags),
            "policy" => doc.policies = policies(value, diags),
            other => diags.error(
                key_span,
                format!(
                    "unknown table `{other}`, expected one of {}",
                    TOP_LEVEL_KEYS
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    Some(doc)
}

/// Deserializes one piece, recording the error (at its span) on failure.
fn piece<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    diags: &mut Diagnostics<'_>,
) -> Option<T> {
    let whole = value.span();
    match T::deserialize(value.into_deserializer()) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.error(e.span().unwrap_or(whole), toml_message(e.message()));
            None
        }
    }
}

/// `[[name]]`: each element deserialized on its own.
fn array_of_tables<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    name: &str,
    diags: &mut Diagnostics<'_>,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items
            .into_iter()
            .filter_map(|item| piece(item, diags))
            .collect(),
        other => {
            diags.error(
                span,
                format!(
                    "`{name}` must be an array of tables (`[[{name}]]`), not a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

/// `[policy.NAME]`: each policy deserialized on its own, keeping the name's span.
fn policies<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    diags: &mut Diagnostics<'_>,
) -> Vec<(Spanned<String>, T)> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(table) => table
            .into_iter()
            .filter_map(|(name, body)| {
                let name_span = name.span();
                let name = Spanned::new(name_span, name.into_inner().into_owned());
                piece(body, diags).map(|p| (name, p))
            })
            .collect(),
        other => {
            diags.error(
                span,
                format!(
                    "`policy` must be a table of named policies (`[policy.NAME]`), not a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

/// The toml crate's messages, trimmed to one line and without a trailing newline.
fn toml_message(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        "invalid TOML".to_owned()
    } else {
        line.to_owned()
    }
}
