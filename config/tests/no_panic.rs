//! The loader never panics, whatever it is given: random text, TOML-looking noise, and the
//! examples mutated (bytes deleted, tokens inserted, lines duplicated or swapped).

#![allow(clippy::unwrap_used)] // test code

use config::Config;
use proptest::prelude::*;

const EXAMPLES: [&str; 3] = [
    include_str!("../../examples/alibaba-hybrid.toml"),
    include_str!("../../examples/calico-route-reflector.toml"),
    include_str!("../../examples/lab.toml"),
];

/// Fragments that reach deep into the validator when spliced into a valid file.
const TOKENS: [&str; 32] = [
    "\n[[neighbor]]\n",
    "\n[policy.x]\n",
    "\n[[policy.x.term]]\n",
    "[global]\n",
    "\"",
    "'",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "0",
    "-1",
    "99999999999999999999",
    "4294967296",
    "1.5",
    "true",
    "\"0.0.0.0\"",
    "\"::/0+\"",
    "\"10.0.0.0/8{33,1}\"",
    "\"é\"",
    "#",
    "\\u",
    "range = \"192.0.2.0/24\"\n",
    "address = \"192.0.2.1\"\n",
    "remote_as = 23456\n",
    "hold_time = 1\n",
    "import = \"nope\"\n",
    "password_file = \"/dev/null\"\n",
    "\t",
];

/// A file name in `examples/`, so that `password_file = "vbr.key"` resolves.
const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/fuzz.toml");

/// The diagnostics are well-formed whatever happened.
fn check(text: &str) {
    let diags = match Config::from_str(text, FILE) {
        Ok((_, warnings)) => warnings,
        Err(diags) => {
            assert!(
                diags.iter().any(|d| d.is_error()),
                "rejected without an error"
            );
            diags
        }
    };
    let lines = text.split('\n').count();
    for d in diags {
        assert!(d.line >= 1 && d.line <= lines, "{d}");
        assert!(d.column >= 1, "{d}");
        assert!(d.to_string().starts_with(&format!("{FILE}:")));
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0..40usize).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Mutation::Insert(at, t)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, m: &Mutation) -> String {
    match *m {
        Mutation::Delete(at, len) => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        Mutation::Insert(at, t) => {
            let i = boundary(text, at);
            format!("{}{}{}", &text[..i], TOKENS[t], &text[i..])
        }
        Mutation::DuplicateLine(at) | Mutation::SwapLines(at, _) if text.is_empty() => {
            let _ = at;
            String::new()
        }
        Mutation::DuplicateLine(at) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let i = at % lines.len();
            lines.insert(i, lines[i]);
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            let mut lines: Vec<&str> = text.split('\n').collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            lines.join("\n")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn toml_looking_noise(text in "([a-z_]{1,12} = (\"[^\"\n]{0,20}\"|-?[0-9]{1,12}|true|\\[\\]|\\{\\})\n|\\[\\[?[a-z.]{1,10}\\]\\]?\n){0,20}") {
        check(&text);
    }

    #[test]
    fn mutated_examples(which in 0..EXAMPLES.len(), mutations in prop::collection::vec(mutation(), 1..8)) {
        let mut text = EXAMPLES[which].to_owned();
        for m in &mutations {
            text = apply(&text, m);
        }
        check(&text);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for open in ["[", "{ a = "] {
        let text = format!("x = {}", open.repeat(100_000));
        check(&text);
    }
}

#[test]
fn unmutated_examples_are_accepted() {
    for e in EXAMPLES {
        assert!(Config::from_str(e, FILE).is_ok());
    }
}
