//! Manual pages rendered from the clap definitions themselves (`bgpd --generate-man`,
//! `bgpctl generate-man`), so that a page can never disagree with `--help`.
//!
//! clap_mangen renders the title, NAME, SYNOPSIS, DESCRIPTION and OPTIONS of the top
//! command. This module adds what clap_mangen would otherwise spread over one page per
//! subcommand: a COMMANDS section with every visible subcommand of the tree in one page (as
//! OpenBGPD's bgpctl(8) has them), each with its synopsis, description, arguments and
//! examples. The command's after-help text (`Examples:`, `Environment:`, `Exit status:`,
//! ...) becomes sections of their own, and SEE ALSO names the related pages.

use std::io;

use clap::{Arg, Command};
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

/// Section 8: system administration commands and daemons.
const SECTION: &str = "8";

/// What the roff crate writes at the start of every piece it renders (the `Aq` string for
/// apostrophes): kept once, at the top of the page.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// Renders the page of `cmd` (section 8) as roff. `see_also` lists related pages
/// (`"bgpd.toml(5)"`).
pub fn render(cmd: Command, see_also: &[&str]) -> io::Result<Vec<u8>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_owned();
    let man = Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }

    let mut roff = Roff::new();
    if visible_subcommands(&cmd).next().is_some() {
        roff.control("SH", ["COMMANDS"]);
        for sub in visible_subcommands(&cmd) {
            command_entry(&mut roff, sub, &[bold(name.as_str())]);
        }
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        for (heading, lines) in after_help_sections(&after.to_string()) {
            roff.control("SH", [heading.to_uppercase().as_str()]);
            body(&mut roff, &heading, &lines);
        }
    }
    if !see_also.is_empty() {
        roff.control("SH", ["SEE ALSO"]);
        let mut refs = Vec::new();
        for (i, page) in see_also.iter().enumerate() {
            if i > 0 {
                refs.push(roman(", "));
            }
            match page.split_once('(') {
                Some((page, section)) => {
                    refs.push(bold(page));
                    refs.push(roman(format!("({section}")));
                }
                None => refs.push(bold(*page)),
            }
        }
        roff.text(refs);
    }
    roff.to_writer(&mut out)?;

    // The title line is written here: clap_mangen leaves out an empty date instead of
    // quoting it, which shifts the source and manual into the wrong fields.
    let body = String::from_utf8_lossy(&out).replace(PREAMBLE, "");
    let page = format!(
        "{PREAMBLE}.TH {} {SECTION} \"\" \"bgpd {}\" \"System Administration\"\n{body}",
        name.to_uppercase(),
        env!("CARGO_PKG_VERSION"),
    );
    Ok(page.into_bytes())
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// The arguments a subcommand lists as its own: not hidden, not `--help`, not the global
/// options its parents already list.
fn own_arguments(cmd: &Command) -> impl Iterator<Item = &Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// `--long`, `-s` or the positional's value name, as the synopsis and the argument list
/// show it.
fn arg_words(arg: &Arg) -> Vec<Inline> {
    if arg.is_positional() {
        return vec![italic(value_name(arg))];
    }
    let mut words = match (arg.get_short(), arg.get_long()) {
        (Some(s), Some(l)) => vec![bold(format!("-{s}")), roman(", "), bold(format!("--{l}"))],
        (Some(s), None) => vec![bold(format!("-{s}"))],
        (None, Some(l)) => vec![bold(format!("--{l}"))],
        (None, None) => vec![],
    };
    if arg.get_num_args().is_some_and(|n| n.takes_values()) {
        words.push(roman(" "));
        words.push(italic(value_name(arg)));
    }
    words
}

/// One synopsis element: `[--neighbor NAME]`, `FILE`, `[PREFIX]`.
fn synopsis_words(arg: &Arg) -> Vec<Inline> {
    let mut words = Vec::new();
    let optional = !arg.is_required_set();
    if optional {
        words.push(roman("["));
    }
    if arg.is_positional() {
        words.push(italic(value_name(arg)));
    } else {
        match (arg.get_long(), arg.get_short()) {
            (Some(l), _) => words.push(bold(format!("--{l}"))),
            (None, Some(s)) => words.push(bold(format!("-{s}"))),
            (None, None) => {}
        }
        if arg.get_num_args().is_some_and(|n| n.takes_values()) {
            words.push(roman(" "));
            words.push(italic(value_name(arg)));
        }
    }
    if optional {
        words.push(roman("]"));
    }
    words
}

/// One `.TP` entry per visible command, parents before their subcommands. `prefix` is the
/// synopsis of the parents: names in bold, their positional arguments in italics.
fn command_entry(roff: &mut Roff, cmd: &Command, prefix: &[Inline]) {
    let mut path = prefix.to_vec();
    path.push(roman(" "));
    path.push(bold(cmd.get_name()));
    let positionals: Vec<&Arg> = own_arguments(cmd).filter(|a| a.is_positional()).collect();
    let mut for_children = path.clone();
    for arg in &positionals {
        for_children.push(roman(" "));
        for_children.extend(synopsis_words(arg));
    }

    let mut synopsis = path;
    for arg in own_arguments(cmd).filter(|a| !a.is_positional()) {
        synopsis.push(roman(" "));
        synopsis.extend(synopsis_words(arg));
    }
    for arg in &positionals {
        synopsis.push(roman(" "));
        synopsis.extend(synopsis_words(arg));
    }
    let has_children = visible_subcommands(cmd).next().is_some();
    if has_children {
        synopsis.push(roman(" "));
        synopsis.push(italic("COMMAND"));
    }
    roff.control("TP", []);
    roff.text(synopsis);
    if let Some(about) = cmd.get_long_about().or_else(|| cmd.get_about()) {
        paragraphs(roff, &about.to_string());
    }

    let args: Vec<&Arg> = own_arguments(cmd).collect();
    let after = cmd.get_after_long_help().or_else(|| cmd.get_after_help());
    if !args.is_empty() || after.is_some() {
        roff.control("RS", []);
        for arg in args {
            roff.control("TP", []);
            roff.text(arg_words(arg));
            paragraphs(roff, &arg_help(arg));
        }
        if let Some(after) = after {
            for (heading, lines) in after_help_sections(&after.to_string()) {
                roff.control("PP", []);
                roff.text([italic(format!("{heading}:"))]);
                body(roff, &heading, &lines);
            }
        }
        roff.control("RE", []);
    }

    for sub in visible_subcommands(cmd) {
        command_entry(roff, sub, &for_children);
    }
}

/// An argument's help, with its default and possible values as `--help` shows them.
fn arg_help(arg: &Arg) -> String {
    let help = arg.get_long_help().or_else(|| arg.get_help());
    let mut text = help.map(|h| h.to_string()).unwrap_or_default();
    if !arg.get_num_args().is_some_and(|n| n.takes_values()) {
        return text;
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        text.push_str(&format!(" [default: {}]", defaults.join(", ")));
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .into_iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if !values.is_empty() {
        text.push_str(&format!(" [possible values: {}]", values.join(", ")));
    }
    text
}

/// Text with blank lines between paragraphs; lines within a paragraph are filled.
fn paragraphs(roff: &mut Roff, text: &str) {
    let mut first = true;
    for paragraph in text.split("\n\n") {
        let joined = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
        if joined.is_empty() {
            continue;
        }
        if !first {
            roff.control("PP", []);
        }
        first = false;
        roff.text([roman(joined)]);
    }
}

/// Splits after-help text into `(heading, indented lines)`: a heading is an unindented
/// line ending in `:`; the lines under it are kept as written (less their indentation).
fn after_help_sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with(char::is_whitespace);
        match (indented, line.strip_suffix(':')) {
            (false, Some(heading)) if !heading.is_empty() => {
                sections.push((heading.to_owned(), Vec::new()));
            }
            _ => {
                if let Some((_, lines)) = sections.last_mut() {
                    if !line.trim().is_empty() {
                        lines.push(line.trim().to_owned());
                    }
                }
            }
        }
    }
    sections
}

/// The lines under an after-help heading: examples exactly as written (no filling); a list
/// of `TERM  description` lines (two spaces or more between them) as a tagged list.
fn body(roff: &mut Roff, heading: &str, lines: &[String]) {
    let pairs: Option<Vec<(&str, &str)>> = lines
        .iter()
        .map(|l| l.split_once("  ").map(|(t, d)| (t.trim(), d.trim())))
        .collect();
    match pairs {
        Some(pairs) if !heading.starts_with("Example") => {
            for (term, description) in pairs {
                roff.control("TP", []);
                roff.text([bold(term)]);
                roff.text([roman(description)]);
            }
        }
        _ => {
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            for line in lines {
                roff.text([roman(line.as_str())]);
            }
            roff.control("fi", []);
            roff.control("RE", []);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_help_splits_into_headed_blocks() {
        let text = "Examples:\n  a b\n  c  d\n\nExit status:\n  0  ok\n  1  not ok\n";
        let sections = after_help_sections(text);
        assert_eq!(
            sections,
            vec![
                (
                    "Examples".to_owned(),
                    vec!["a b".to_owned(), "c  d".to_owned()]
                ),
                (
                    "Exit status".to_owned(),
                    vec!["0  ok".to_owned(), "1  not ok".to_owned()]
                ),
            ]
        );
    }
}
