//! From text to [`Document`]: TOML parsing with recovery, then serde deserialization of each
//! piece (each table, each `[[neighbor]]`, each policy) on its own, so that every syntax error
//! and at least one schema error per piece is reported in one run.

use std::ops::Range;

use serde::de::{Deserialize, IntoDeserializer};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::Diagnostics;
use crate::schema::{Document, PolicySchema, TermSchema, TOP_LEVEL_KEYS};

/// Parses `text` into the schema layer. Returns `None` when the TOML itself is malformed (the
/// syntax errors are in `diags`); schema errors are recorded and the piece is skipped.
pub(crate) fn parse_document(text: &str, diags: &mut Diagnostics<'_>) -> Option<Document> {
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            let mut message = toml_message(e.message());
            if message == "duplicate key" {
                if let Some(key) = text.get(span.clone()) {
                    message = format!("duplicate key `{}`", key.trim());
                }
            }
            diags.error(span, message);
        }
        return None;
    }
    let mut doc = Document::default();
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "global" => {
                doc.global_present = true;
                doc.global = piece(value, "global", diags);
            }
            "control" => doc.control = piece(value, "control", diags),
            "metrics" => doc.metrics = piece(value, "metrics", diags),
            "kernel" => doc.kernel = piece(value, "kernel", diags),
            "originate" => {
                doc.originate = array_of_tables(value, "originate", "[[originate]]", diags)
            }
            "bmp" => doc.bmp = array_of_tables(value, "bmp", "[[bmp]]", diags),
            "neighbor" => doc.neighbors = array_of_tables(value, "neighbor", "[[neighbor]]", diags),
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

/// Deserializes one piece (`what` names it in messages), recording every error at its span.
///
/// serde stops at the first error, so after one the offending key is dropped from the table
/// and the piece is deserialized again, until it succeeds or the error is not about one key
/// (a missing required key, a wrong type for the whole piece). A piece with errors may still
/// be returned (without the bad keys), so that its remaining values are checked too; the
/// configuration is rejected anyway because errors were recorded.
fn piece<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    what: &str,
    diags: &mut Diagnostics<'_>,
) -> Option<T> {
    let whole = value.span();
    let mut value = value;
    let mut dropped: Vec<String> = Vec::new();
    loop {
        let error = match T::deserialize(value.clone().into_deserializer()) {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        diags.mark_partial(whole.clone());
        let span = error.span().unwrap_or_else(|| whole.clone());
        let message = toml_message(error.message());
        // A key dropped earlier is now "missing": that was already reported.
        if dropped
            .iter()
            .any(|k| message == format!("missing key `{k}`"))
        {
            return None;
        }
        let DeValue::Table(table) = value.get_mut() else {
            diags.error(span, format!("`{what}`: {message}"));
            return None;
        };
        let inside = |outer: &Range<usize>| outer.start <= span.start && span.end <= outer.end;
        let culprit = table.iter().find_map(|(k, v)| {
            (inside(&k.span()) || inside(&v.span()))
                .then(|| (k.get_ref().to_string(), v.span() == span))
        });
        let Some((key, is_value)) = culprit else {
            diags.error(span, message);
            return None;
        };
        if is_value {
            diags.error(span, format!("`{key}`: {message}"));
        } else {
            diags.error(span, message);
        }
        table.remove(key.as_str());
        dropped.push(key);
    }
}

/// An array of tables (`header` shows how it is written): each element deserialized on its own.
fn array_of_tables<'de, T: Deserialize<'de>>(
    value: Spanned<DeValue<'de>>,
    name: &str,
    header: &str,
    diags: &mut Diagnostics<'_>,
) -> Vec<T> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items
            .into_iter()
            .filter_map(|item| piece(item, name, diags))
            .collect(),
        other => {
            diags.error(
                span,
                format!(
                    "`{name}` must be an array of tables (`{header}`), not {}",
                    with_article(other.type_str())
                ),
            );
            Vec::new()
        }
    }
}

/// `[policy.NAME]`: each policy, and each of its terms, deserialized on its own, keeping the
/// name's span.
fn policies(
    value: Spanned<DeValue<'_>>,
    diags: &mut Diagnostics<'_>,
) -> Vec<(Spanned<String>, Spanned<PolicySchema>)> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(table) => table
            .into_iter()
            .filter_map(|(name, body)| {
                let name_span = name.span();
                let name = Spanned::new(name_span, name.into_inner().into_owned());
                let mut body = body;
                let terms = match body.get_mut() {
                    DeValue::Table(t) => t.remove("term"),
                    _ => None,
                };
                let header = format!("[[policy.{}.term]]", name.get_ref());
                let terms = terms.map_or_else(Vec::new, |t| {
                    array_of_tables::<Spanned<TermSchema>>(t, "term", &header, diags)
                });
                let mut policy: Spanned<PolicySchema> = piece(body, "policy", diags)?;
                policy.get_mut().terms = terms;
                Some((name, policy))
            })
            .collect(),
        other => {
            diags.error(
                span,
                format!(
                    "`policy` must be a table of named policies (`[policy.NAME]`), not {}",
                    with_article(other.type_str())
                ),
            );
            Vec::new()
        }
    }
}

/// "an integer", "a table", ...
fn with_article(noun: &str) -> String {
    match noun.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {noun}"),
        _ => format!("a {noun}"),
    }
}

/// The toml and serde messages, trimmed to one line and with serde's Rust type names replaced
/// by TOML's words.
fn toml_message(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return "invalid TOML".to_owned();
    }
    let mut out = line.to_owned();
    for (rust, toml) in [
        ("unknown field", "unknown key"),
        ("missing field", "missing key"),
        ("expected i64", "expected an integer"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("expected a boolean", "expected true or false"),
    ] {
        out = out.replace(rust, toml);
    }
    // `expected struct GlobalSchema` and the like.
    if let Some(i) = out.find("expected struct ") {
        out.truncate(i);
        out.push_str("expected a table");
    }
    out
}
