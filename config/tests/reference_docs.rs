//! The two references of the configuration file, the man page `docs/man/bgpd.toml.5` and
//! `docs/config.md`, name every table and key the loader accepts.
//!
//! The accepted keys are not copied into this test: it asks the loader. Each table gets an
//! unknown key, and the loader's own "unknown key `x`, expected one of ..." diagnostic lists
//! what that table accepts (serde's `deny_unknown_fields` list, so exactly the schema). A new
//! key or top-level table that is not documented fails here.
//!
//! In the man page a key is a `.TP` item `.B key` under the `.SS` heading of its table; in
//! config.md it is written `` `key` `` (or `key =`) in the section of its table.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

const PROBE: &str = "zz_probe";

const BASE: &str = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n";
const NEIGHBOR: &str =
    "[[neighbor]]\nname = \"n\"\naddress = \"192.0.2.2\"\nremote_as = 64512\nimport = \"p\"\n";
const TERM: &str = "[policy.p]\n[[policy.p.term]]\naction = \"accept\"\n";

/// One table: a file with the probe key in that table, its `.SS` heading in the man page,
/// and the heading of the config.md section that documents its keys.
struct Table {
    probe: String,
    man: &'static str,
    markdown: &'static str,
}

fn tables() -> Vec<Table> {
    let p = PROBE;
    let t = |rest: String, man, markdown| Table {
        probe: format!("{BASE}{rest}"),
        man,
        markdown,
    };
    vec![
        Table {
            probe: BASE.replace("router_id", &format!("{p} = 1\nrouter_id")),
            man: "[global]",
            markdown: "`[global]`",
        },
        t(format!("[control]\n{p} = 1\n"), "[control]", "`[control]`"),
        t(format!("[metrics]\n{p} = 1\n"), "[metrics]", "`[metrics]`"),
        t(format!("[kernel]\n{p} = 1\n"), "[kernel]", "`[kernel]`"),
        t(
            format!("[[originate]]\nprefix = \"10.0.0.0/8\"\n{p} = 1\n"),
            "[[originate]]",
            "`[[originate]]`",
        ),
        t(
            format!("{NEIGHBOR}{p} = 1\n"),
            "[[neighbor]]",
            "`[[neighbor]]`",
        ),
        t(
            format!("{NEIGHBOR}graceful_restart = {{ {p} = 1 }}\n"),
            "[[neighbor]] graceful_restart",
            "`[[neighbor]]`",
        ),
        t(
            format!("{NEIGHBOR}bfd = {{ {p} = 1 }}\n"),
            "[[neighbor]] bfd",
            "`[[neighbor]]`",
        ),
        t(
            format!("{NEIGHBOR}calico = {{ pools = [\"10.0.0.0/8\"], {p} = 1 }}\n"),
            "[[neighbor]] calico",
            "`[[neighbor]]`",
        ),
        t(
            format!("[[bmp]]\naddress = \"192.0.2.9\"\n{p} = 1\n"),
            "[[bmp]]",
            "`[[bmp]]`",
        ),
        t(
            format!("[policy.p]\n{p} = 1\n"),
            "[policy.NAME]",
            "`[policy.NAME]`",
        ),
        t(
            format!("{TERM}{p} = 1\n"),
            "[[policy.NAME.term]]",
            "`[[policy.NAME.term]]`",
        ),
        t(
            format!("{TERM}as_path = {{ {p} = 1 }}\n"),
            "term as_path",
            "`[[policy.NAME.term]]`",
        ),
        t(
            format!("{TERM}set = {{ {p} = 1 }}\n"),
            "term set",
            "`[[policy.NAME.term]]`",
        ),
        t(
            format!("{TERM}set = {{ as_path_prepend = {{ {p} = 1 }} }}\n"),
            "set as_path_prepend",
            "`[[policy.NAME.term]]`",
        ),
    ]
}

/// The names the loader lists as expected after rejecting the probe key (or table).
fn accepted(text: &str) -> BTreeSet<String> {
    let diags = match config::Config::from_str(text, "probe.toml") {
        Ok(_) => panic!("the probe key was accepted:\n{text}"),
        Err(diags) => diags,
    };
    let unknown = [
        format!("unknown key `{PROBE}`"),
        format!("unknown table `{PROBE}`"),
    ];
    let message = diags
        .iter()
        .map(|d| d.message.as_str())
        .find(|m| unknown.iter().any(|u| m.contains(u.as_str())))
        .unwrap_or_else(|| panic!("no unknown-key diagnostic for:\n{text}\n{diags:#?}"));
    let (_, list) = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of expected keys in {message:?}"));
    let names: BTreeSet<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!names.is_empty(), "no key listed in {message:?}");
    names
}

fn read(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The man page's `.SS` (and `.SH`) sections: heading and the keys listed as `.TP` / `.B key`.
fn man_sections(page: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut sections: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut after_tp = false;
    for line in page.lines() {
        if let Some(heading) = line
            .strip_prefix(".SS ")
            .or_else(|| line.strip_prefix(".SH "))
        {
            sections.push((heading.trim().trim_matches('"').to_owned(), BTreeSet::new()));
        } else if after_tp {
            if let (Some(key), Some((_, keys))) = (line.strip_prefix(".B "), sections.last_mut()) {
                keys.insert(key.trim().to_owned());
            }
        }
        after_tp = line.trim() == ".TP";
    }
    sections
}

/// The text of config.md's section whose `##` or `###` heading contains `heading`, up to the
/// next such heading.
fn markdown_section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let mut start = None;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let is_heading = line.starts_with("## ") || line.starts_with("### ");
        if is_heading {
            if let Some(s) = start {
                return doc.get(s..offset);
            }
            if line.contains(heading) {
                start = Some(offset);
            }
        }
        offset += line.len();
    }
    start.and_then(|s| doc.get(s..))
}

#[test]
fn the_man_page_names_every_table_and_key() {
    let page = read("docs/man/bgpd.toml.5");
    let sections = man_sections(&page);
    let mut missing = Vec::new();

    for top in accepted(&format!("{BASE}[{PROBE}]\n")) {
        let headings = [format!("[{top}]"), format!("[[{top}]]"), format!("[{top}.")];
        if !sections
            .iter()
            .any(|(h, _)| headings.iter().any(|want| h.starts_with(want.as_str())))
        {
            missing.push(format!("top-level table `{top}`: no `.SS [{top}]` heading"));
        }
    }
    for table in tables() {
        let Some((_, documented)) = sections.iter().find(|(h, _)| h == table.man) else {
            missing.push(format!("no `.SS \"{}\"` heading", table.man));
            continue;
        };
        for key in accepted(&table.probe) {
            if !documented.contains(&key) {
                missing.push(format!("`{key}` under `.SS \"{}\"`", table.man));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/man/bgpd.toml.5 lacks what the config crate accepts (add a `.TP` / `.B key` item):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn config_md_names_every_table_and_key() {
    let doc = read("docs/config.md");
    let mut missing = Vec::new();

    for top in accepted(&format!("{BASE}[{PROBE}]\n")) {
        if ![
            format!("`[{top}]`"),
            format!("`[[{top}]]`"),
            format!("`[{top}."),
        ]
        .iter()
        .any(|h| markdown_section(&doc, h).is_some())
        {
            missing.push(format!("top-level table `{top}`: no section"));
        }
    }
    for table in tables() {
        let Some(section) = markdown_section(&doc, table.markdown) else {
            missing.push(format!("no section {}", table.markdown));
            continue;
        };
        for key in accepted(&table.probe) {
            if !section.contains(&format!("`{key}`")) && !section.contains(&format!("{key} =")) {
                missing.push(format!("`{key}` in the {} section", table.markdown));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md lacks what the config crate accepts:\n  {}",
        missing.join("\n  ")
    );
}

/// The probes reach the tables they are meant for: each lists a key only that table has.
#[test]
fn each_probe_reaches_its_table() {
    let marks = [
        ("[global]", "selection_deferral"),
        ("[control]", "socket"),
        ("[metrics]", "listen"),
        ("[kernel]", "table"),
        ("[[originate]]", "require_more_specific"),
        ("[[neighbor]]", "remote_as"),
        ("[[neighbor]] graceful_restart", "long_lived_stale_time"),
        ("[[neighbor]] bfd", "multiplier"),
        ("[[neighbor]] calico", "block_size_v6"),
        ("[[bmp]]", "adj_rib_out"),
        ("[policy.NAME]", "term"),
        ("[[policy.NAME.term]]", "large_communities"),
        ("term as_path", "min_length"),
        ("term set", "communities_add"),
        ("set as_path_prepend", "count"),
    ];
    for table in tables() {
        let (_, key) = marks.iter().find(|(m, _)| *m == table.man).unwrap();
        let keys = accepted(&table.probe);
        assert!(keys.contains(*key), "{}: {keys:?}", table.man);
    }
    let top = accepted(&format!("{BASE}[{PROBE}]\n"));
    assert!(
        top.contains("neighbor") && top.contains("policy"),
        "{top:?}"
    );
}
