//! Prints the results of the last `cargo bench` here as the Markdown table of
//! docs/benchmarks-codec.md: per codec and direction, the median time per pass over the
//! stream (and the fastest sample), prefixes per second, MB/s, ns per prefix, ns per UPDATE
//! and the ratio of its time to bgp-wire's.
//!
//! `cargo run --release --bin report`

use std::path::Path;

use codec_compare::stream;

/// Nanoseconds per pass: (median, minimum) over criterion's samples.
fn per_pass(dir: &Path) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(dir.join("new/sample.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let iters = v.get("iters")?.as_array()?;
    let times = v.get("times")?.as_array()?;
    let mut per: Vec<f64> = iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .collect();
    per.sort_by(f64::total_cmp);
    let median = if per.len() % 2 == 1 {
        per[per.len() / 2]
    } else {
        (per[per.len() / 2 - 1] + per[per.len() / 2]) / 2.0
    };
    Some((median, *per.first()?))
}

fn main() {
    let s = stream::build();
    let prefixes = s.prefixes as f64;
    let updates = s.updates as f64;
    let bytes = s.bytes.len() as f64;
    println!(
        "Stream: {} prefixes in {} UPDATEs, {} bytes ({:.2} prefixes per UPDATE, {:.1} bytes per UPDATE).\n",
        s.prefixes,
        s.updates,
        s.bytes.len(),
        prefixes / updates,
        bytes / updates
    );
    let root = Path::new("target/criterion");
    for (group, codecs) in [
        (
            "decode",
            &[
                "bgp-wire",
                "rustbgpd-wire parse",
                "rustbgpd-wire parse_revised",
                "netgauze-bgp-pkt",
                "bgpkit-parser",
            ][..],
        ),
        (
            "encode",
            &[
                "bgp-wire",
                "rustbgpd-wire",
                "netgauze-bgp-pkt",
                "bgpkit-parser",
            ][..],
        ),
    ] {
        let Some((ours, _)) = per_pass(&root.join(group).join("bgp-wire")) else {
            println!("{group}: no bgp-wire result; run `cargo bench` first\n");
            continue;
        };
        println!("**{group}**\n");
        println!("| codec | ms per pass (median) | fastest | Mprefixes/s | MB/s | ns/prefix | ns/UPDATE | time vs bgp-wire |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for codec in codecs {
            let Some((ns, min)) = per_pass(&root.join(group).join(codec)) else {
                continue;
            };
            println!(
                "| {codec} | {:.1} | {:.1} | {:.2} | {:.0} | {:.1} | {:.0} | {:.2}x |",
                ns / 1e6,
                min / 1e6,
                prefixes / ns * 1e3,
                bytes / ns * 1e3,
                ns / prefixes,
                ns / updates,
                ns / ours
            );
        }
        println!();
    }
}
