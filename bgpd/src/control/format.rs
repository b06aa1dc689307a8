//! Human output of `bgpctl`: aligned tables in the manner of OpenBGPD's `bgpctl` and
//! `birdc`, and the `--json` payloads.
//!
//! Every function returns the text to print, so the layout is tested without a daemon.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::protocol::{
    BfdSession, NeighborDetail, NeighborSummary, Response, RibEntry, SessionState,
};

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// Lays out `rows` under `headers` with two spaces between columns; column widths are the
/// widest cell. Trailing spaces are trimmed.
pub fn table(headers: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|(h, _)| (*h).to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, (_, align))) in row.iter().zip(headers).enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                line.push_str("  ");
            }
            // Headers of right-aligned columns align right too, above their numbers.
            let _ = match align {
                Align::Left => write!(line, "{cell:<width$}"),
                Align::Right => write!(line, "{cell:>width$}"),
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Uptime as OpenBGPD prints it: `HH:MM:SS` under a day, `NdHHhMMm` under a week,
/// `NNwNdHHh` beyond; `-` when not Established.
pub fn duration(seconds: Option<u64>) -> String {
    let Some(s) = seconds else {
        return "-".to_string();
    };
    let (min, hour, day, week) = (60, 3600, 86_400, 604_800);
    if s < day {
        format!("{:02}:{:02}:{:02}", s / hour, s % hour / min, s % min)
    } else if s < week {
        format!("{}d{:02}h{:02}m", s / day, s % day / hour, s % hour / min)
    } else {
        format!("{:02}w{}d{:02}h", s / week, s % week / day, s % day / hour)
    }
}

/// `bgpctl show summary`: one line per neighbor and address family (a second family's
/// line leaves the neighbor's columns empty).
pub fn summary(rows: &[NeighborSummary]) -> String {
    if rows.is_empty() {
        return "no neighbors\n".to_string();
    }
    let headers = [
        ("Neighbor", Align::Left),
        ("Address", Align::Left),
        ("AS", Align::Right),
        ("State", Align::Left),
        ("Up/Down", Align::Right),
        ("Family", Align::Left),
        ("Rcvd", Align::Right),
        ("Accepted", Align::Right),
        ("Advertised", Align::Right),
    ];
    let mut cells: Vec<Vec<String>> = Vec::new();
    for n in rows {
        let mut first = vec![
            n.name.clone(),
            n.address.clone(),
            n.remote_as.to_string(),
            n.state.to_string(),
            duration(n.uptime_seconds),
        ];
        if n.families.is_empty() {
            first.extend([
                "-".to_owned(),
                n.prefixes_received.to_string(),
                n.prefixes_accepted.to_string(),
                n.prefixes_advertised.to_string(),
            ]);
            cells.push(first);
            continue;
        }
        for (i, f) in n.families.iter().enumerate() {
            let mut row = if i == 0 {
                std::mem::take(&mut first)
            } else {
                vec![String::new(); 5]
            };
            row.extend([
                f.family.clone(),
                f.received.to_string(),
                f.accepted.to_string(),
                f.advertised.to_string(),
            ]);
            cells.push(row);
        }
    }
    table(&headers, &cells)
}

/// `bgpctl show neighbor`: one block per neighbor.
pub fn neighbors(rows: &[NeighborDetail]) -> String {
    if rows.is_empty() {
        return "no such neighbor\n".to_string();
    }
    let blocks: Vec<String> = rows.iter().map(neighbor).collect();
    blocks.join("\n")
}

fn neighbor(n: &NeighborDetail) -> String {
    let s = &n.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "BGP neighbor {}, address {}, remote AS {}",
        s.name, s.address, s.remote_as
    );
    if let Some(d) = &n.description {
        let _ = writeln!(out, "  Description: {d}");
    }
    if let Some(g) = &s.dynamic_group {
        let _ = writeln!(out, "  Dynamic group: {g}");
    }
    let _ = match (s.state, s.uptime_seconds) {
        (SessionState::Established, Some(up)) => {
            writeln!(out, "  State: Established, up for {}", duration(Some(up)))
        }
        (state, _) => writeln!(out, "  State: {state}"),
    };
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let _ = writeln!(
        out,
        "  Local address: {}, peer router ID: {}",
        dash(n.local_address.clone()),
        dash(n.router_id.map(|r| r.to_string()))
    );
    let _ = writeln!(
        out,
        "  Hold time: {}s, keepalive: {}s",
        n.hold_time, n.keepalive
    );
    if !n.capabilities.is_empty() {
        let _ = writeln!(out, "  Capabilities: {}", n.capabilities.join(", "));
    }
    if !n.families.is_empty() {
        let _ = writeln!(out, "  Families: {}", n.families.join(", "));
    }
    let _ = writeln!(
        out,
        "  Prefixes: received {}, accepted {}, advertised {}",
        s.prefixes_received, s.prefixes_accepted, s.prefixes_advertised
    );
    if let Some(l) = &n.max_prefixes_out {
        let _ = writeln!(
            out,
            "  Outbound limit: {} (advertised {}, suppressed {})",
            l.limit, l.advertised, l.suppressed
        );
    }
    let _ = writeln!(out, "  Flaps: {}", n.flaps);
    if let Some(e) = &n.last_error {
        let _ = writeln!(out, "  Last error: {e}");
    }
    // Message types in RFC order, then any others alphabetically.
    let order = [
        "open",
        "update",
        "notification",
        "keepalive",
        "route_refresh",
    ];
    let mut kinds: Vec<&String> = n
        .messages_in
        .keys()
        .chain(n.messages_out.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    kinds.sort_by_key(|k| order.iter().position(|o| o == k).unwrap_or(order.len()));
    if !kinds.is_empty() {
        let rows: Vec<Vec<String>> = kinds
            .iter()
            .map(|k| {
                let get = |m: &std::collections::BTreeMap<String, u64>| {
                    m.get(*k).copied().unwrap_or(0).to_string()
                };
                vec![(*k).clone(), get(&n.messages_out), get(&n.messages_in)]
            })
            .collect();
        out.push('\n');
        let t = table(
            &[
                ("Messages", Align::Left),
                ("Sent", Align::Right),
                ("Received", Align::Right),
            ],
            &rows,
        );
        for line in t.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// `bgpctl show rib`: flags, prefix, next hop, neighbor, LOCAL_PREF, MED, AS path and
/// origin; a `Reason` column when some path says why it lost.
pub fn rib(rows: &[RibEntry]) -> String {
    let mut out = String::from(
        "flags: * = valid, > = best, m = multipath, S = stale\n\
         origin: i = IGP, e = EGP, ? = incomplete\n\n",
    );
    if rows.is_empty() {
        out.push_str("no routes\n");
        return out;
    }
    let with_reason = rows.iter().any(|r| r.reason.is_some());
    let with_path_id = rows.iter().any(|r| r.path_id != 0);
    let opt = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    let mut headers = vec![("Flags", Align::Left), ("Prefix", Align::Left)];
    if with_path_id {
        headers.push(("PathID", Align::Right));
    }
    headers.extend([
        ("Nexthop", Align::Left),
        ("Neighbor", Align::Left),
        ("LPref", Align::Right),
        ("MED", Align::Right),
        ("Path", Align::Left),
    ]);
    if with_reason {
        headers.push(("Reason", Align::Left));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut flags = String::from("*");
            if r.best {
                flags.push('>');
            } else if r.multipath {
                flags.push('m');
            }
            if r.stale {
                flags.push('S');
            }
            let origin = match r.origin.as_str() {
                "igp" => "i",
                "egp" => "e",
                _ => "?",
            };
            let path = if r.as_path.is_empty() {
                origin.to_string()
            } else {
                format!("{} {origin}", r.as_path)
            };
            let mut row = vec![flags, r.prefix.to_string()];
            if with_path_id {
                row.push(r.path_id.to_string());
            }
            row.extend([
                match (r.next_hop, r.next_hop_link_local) {
                    (Some(n), Some(ll)) => format!("{n} ({ll})"),
                    (n, _) => n.map_or_else(|| "-".to_string(), |n| n.to_string()),
                },
                r.neighbor.clone(),
                opt(r.local_pref),
                opt(r.med),
                path,
            ]);
            if with_reason {
                row.push(r.reason.clone().unwrap_or_default());
            }
            row
        })
        .collect();
    out.push_str(&table(&headers, &cells));
    out
}

/// `bgpctl reload`.
pub fn reload(applied: bool, diff: &str, errors: &[String]) -> String {
    let mut out = String::new();
    if !errors.is_empty() {
        out.push_str("configuration rejected; the running configuration is kept:\n");
        for e in errors {
            let _ = writeln!(out, "  {e}");
        }
        return out;
    }
    if !diff.is_empty() {
        out.push_str(diff);
        if !diff.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(if applied {
        "configuration reloaded\n"
    } else if diff.trim().is_empty() {
        "no changes\n"
    } else {
        "dry run: nothing applied\n"
    });
    out
}

/// `bgpctl show bfd`.
pub fn bfd(rows: &[BfdSession]) -> String {
    if rows.is_empty() {
        return "no BFD sessions\n".to_string();
    }
    let headers = [
        ("Neighbor", Align::Left),
        ("Address", Align::Left),
        ("State", Align::Left),
        ("Up/Down", Align::Right),
        ("Tx ms", Align::Right),
        ("Detect ms", Align::Right),
        ("LocalDisc", Align::Right),
        ("RemoteDisc", Align::Right),
        ("Flaps", Align::Right),
        ("Diagnostic", Align::Left),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|b| {
            vec![
                b.neighbor.clone(),
                b.address.to_string(),
                b.state.clone(),
                duration(b.uptime_secs),
                b.tx_interval_ms.to_string(),
                b.detect_time_ms.to_string(),
                b.local_discriminator.to_string(),
                b.remote_discriminator.to_string(),
                b.flaps.to_string(),
                b.diagnostic.clone(),
            ]
        })
        .collect();
    table(&headers, &cells)
}

/// Human output for any response.
pub fn human(response: &Response) -> String {
    match response {
        Response::Summary(rows) => summary(rows),
        Response::Neighbors(rows) => neighbors(rows),
        Response::Rib(rows) => rib(rows),
        Response::Bfd(rows) => bfd(rows),
        Response::Nodes(rows) => super::calico::nodes(rows),
        Response::CalicoConflicts(rows) => super::calico::conflicts(rows),
        Response::Drain { delivered, waiting } => format!(
            "drained: {}\nwaiting: {}\n",
            delivered.join(", "),
            waiting.join(", ")
        ),
        Response::Done { message } | Response::Error { message } => format!("{message}\n"),
        Response::ReloadResult {
            applied,
            diff,
            errors,
        } => reload(*applied, diff, errors),
    }
}

/// `--json` output: the response's payload (its `data`), pretty-printed, with a newline.
pub fn json(response: &Response) -> Result<String, serde_json::Error> {
    let value = serde_json::to_value(response)?;
    let payload = value
        .get("data")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let mut out = serde_json::to_string_pretty(&payload)?;
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_openbgpd_form() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(3723)), "01:02:03");
        assert_eq!(duration(Some(86_400 + 7260)), "1d02h01m");
        assert_eq!(duration(Some(2 * 604_800 + 86_400 + 3600)), "02w1d01h");
    }

    #[test]
    fn table_columns_align() {
        let t = table(
            &[("Name", Align::Left), ("N", Align::Right)],
            &[
                vec!["a".into(), "1000".into()],
                vec!["longer".into(), "7".into()],
            ],
        );
        assert_eq!(t, "Name       N\na       1000\nlonger     7\n");
    }

    #[test]
    fn reload_says_what_happened() {
        assert_eq!(reload(true, "", &[]), "configuration reloaded\n");
        assert_eq!(
            reload(false, "neighbor vbr: reset", &[]),
            "neighbor vbr: reset\ndry run: nothing applied\n"
        );
        assert!(reload(false, "", &["a.toml:1:2: bad".into()]).contains("  a.toml:1:2: bad"));
    }
}
