//! `bgpctl` and metrics views of the Calico-aware reflector, shared by `calico_lab.rs` and
//! `calico_lab_v6.rs`: `show nodes` rows, `show calico conflicts`, a session's flaps and
//! uptime, the edge's metrics, a node's paths for a prefix.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lab_tests::daemons::{find, Bgpd, Route};
use lab_tests::hybrid::HybridLab;
use serde_json::Value;

/// The edge's metrics, fetched inside its namespace (bash's /dev/tcp: no curl needed).
pub fn metrics(seed: &HybridLab) -> Result<String, String> {
    let o = seed
        .lab
        .run(
            &seed.lab.ns("edge"),
            "bash",
            &[
                "-c",
                "exec 3<>/dev/tcp/127.0.0.1/9179; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
            ],
        )
        .map_err(|e| e.to_string())?;
    Ok(o.stdout)
}

/// The value of the series `name` whose labels contain every one of `labels` (`k="v"`).
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name && labels.iter().all(|x| rest.contains(x))
        })
        .and_then(|(_, v)| v.parse().ok())
}

/// One row of `bgpctl --json show nodes`, the lists sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub address: String,
    pub neighbor: String,
    pub state: String,
    pub uptime: Option<u64>,
    pub graceful_restart: String,
    pub blocks: Vec<String>,
    pub borrowed: Vec<String>,
    pub refused: Vec<(String, String)>,
}

/// What a row must be, the session's state and uptime aside.
pub type Want = (
    String,
    String,
    Vec<String>,
    Vec<String>,
    Vec<(String, String)>,
);

impl NodeRow {
    pub fn view(&self) -> Want {
        (
            self.address.clone(),
            self.neighbor.clone(),
            self.blocks.clone(),
            self.borrowed.clone(),
            self.refused.clone(),
        )
    }
}

pub fn strings(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    s.sort();
    s
}

/// `bgpctl --json show nodes`, sorted by address (as strings: the IPv4 rows first).
pub fn show_nodes(rr: &Bgpd) -> Result<Vec<NodeRow>, String> {
    let v = rr.ctl(&["show", "nodes"]).map_err(|e| e.to_string())?;
    let rows = v.as_array().ok_or(format!("show nodes: {v}"))?;
    let mut rows: Vec<NodeRow> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            let mut refused: Vec<(String, String)> = r["refused"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| {
                    let s = |k: &str| x[k].as_str().unwrap_or_default().to_owned();
                    (s("prefix"), s("reason"))
                })
                .collect();
            refused.sort();
            NodeRow {
                address: s("address"),
                neighbor: s("neighbor"),
                state: s("state"),
                uptime: r["uptime_seconds"].as_u64(),
                graceful_restart: s("graceful_restart"),
                blocks: strings(&r["blocks"]),
                borrowed: strings(&r["borrowed"]),
                refused,
            }
        })
        .collect();
    rows.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(rows)
}

/// `bgpctl --json show calico conflicts`: (block, sorted node addresses, any stale).
pub fn conflicts(rr: &Bgpd) -> Result<Vec<(String, Vec<String>, bool)>, String> {
    let v = rr
        .ctl(&["show", "calico", "conflicts"])
        .map_err(|e| e.to_string())?;
    let rows = v.as_array().ok_or(format!("show calico conflicts: {v}"))?;
    Ok(rows
        .iter()
        .map(|c| {
            let nodes = c["nodes"].as_array().cloned().unwrap_or_default();
            let mut addrs: Vec<String> = nodes
                .iter()
                .map(|n| n["address"].as_str().unwrap_or_default().to_owned())
                .collect();
            addrs.sort();
            let stale = nodes.iter().any(|n| n["stale"].as_bool() != Some(false));
            (
                c["block"].as_str().unwrap_or_default().to_owned(),
                addrs,
                stale,
            )
        })
        .collect())
}

/// `bgpctl --json show neighbor ADDR`: (flaps, uptime).
pub fn session(rr: &Bgpd, addr: &str) -> (u64, Option<u64>) {
    let v = rr.ctl(&["show", "neighbor", addr]).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    (
        v["flaps"].as_u64().unwrap_or_else(|| panic!("{addr}: {v}")),
        v["uptime_seconds"].as_u64(),
    )
}

/// The routes for `prefix` in a node's BIRD, as (next hop, best), sorted.
pub fn paths(routes: &[Route], prefix: &str) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = find(routes, prefix)
        .iter()
        .map(|r| (r.next_hop.clone(), r.best))
        .collect();
    v.sort();
    v
}
