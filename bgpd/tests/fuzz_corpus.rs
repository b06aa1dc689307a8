//! Replays the fuzz corpora (`bgpd/fuzz/corpus/control`, `bgpd/fuzz/corpus/bfd`) through the
//! fuzz targets' checks (`bgpd/fuzz/check.rs`): a bounded smoke run that needs no libFuzzer. Also holds the seeds
//! the corpus was started from: every request and response kind, encoded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use bgpd::control::protocol::{
    encode_request, encode_response, BfdSession, NeighborDetail, NeighborSummary, OutLimit,
    Request, Response, RibEntry, RibView, SessionState,
};

#[path = "../fuzz/check.rs"]
mod check;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/control")
}

fn bfd_corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/bfd")
}

#[test]
fn bfd_corpus() {
    let mut n = 0;
    for entry in fs::read_dir(bfd_corpus_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(data) = fs::read(entry.path()) {
            println!("{}", entry.path().display());
            check::bfd(&data);
            n += 1;
        }
    }
    assert!(n > 0, "the BFD corpus is empty");
}

#[test]
fn bfd_seeds_pass_the_checks() {
    for seed in bfd_seeds() {
        check::bfd(&seed);
    }
}

/// BFD packets: each state, Poll and Final, authentication sections, zero and extreme
/// intervals, and broken ones (short, bad version, bad length, zero discriminators).
fn bfd_seeds() -> Vec<Vec<u8>> {
    use bgpd::bfd::packet::{Auth, ControlPacket, Diag, State};
    let base = ControlPacket {
        diag: Diag::NONE,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0x1234_5678,
        your_discriminator: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    };
    let mut seeds = Vec::new();
    for (state, your) in [
        (State::AdminDown, 0),
        (State::Down, 0),
        (State::Init, 1),
        (State::Up, 1),
    ] {
        for (poll, final_) in [(false, false), (true, false), (false, true)] {
            seeds.push(ControlPacket {
                state,
                your_discriminator: your,
                poll,
                final_,
                diag: Diag(if state == State::Up { 0 } else { 1 }),
                ..base.clone()
            });
        }
    }
    seeds.push(ControlPacket {
        state: State::Up,
        your_discriminator: 1,
        desired_min_tx_us: 0,
        required_min_rx_us: 0,
        detect_mult: 255,
        demand: true,
        ..base.clone()
    });
    seeds.push(ControlPacket {
        state: State::Up,
        your_discriminator: 1,
        desired_min_tx_us: u32::MAX,
        required_min_rx_us: 1,
        detect_mult: 1,
        ..base.clone()
    });
    for (auth_type, body) in [
        (1u8, b"\x01secret".to_vec()),
        (
            4,
            [1u8, 0, 0, 0, 0, 7].into_iter().chain([0xab; 20]).collect(),
        ),
        (5, [2u8, 0, 0, 0, 1, 0].into_iter().chain([0; 20]).collect()),
        (2, [1u8, 0, 0, 0, 0, 1].into_iter().chain([0; 16]).collect()),
    ] {
        seeds.push(ControlPacket {
            auth: Some(Auth { auth_type, body }),
            ..base.clone()
        });
    }
    let mut out: Vec<Vec<u8>> = seeds.iter().map(ControlPacket::encode).collect();
    let good = base.encode();
    out.push(Vec::new());
    out.push(good[..3].to_vec());
    out.push(good[..23].to_vec());
    for (at, v) in [
        (0, 0x40),
        (2, 0),
        (3, 255),
        (3, 0),
        (1, 0x41),
        (1, 0x44),
        (4, 0),
    ] {
        let mut bad = good.clone();
        bad[at] = v;
        out.push(bad);
    }
    let mut long = good.clone();
    long.extend_from_slice(&[0xff; 40]);
    out.push(long);
    out
}

#[test]
fn control_corpus() {
    let mut n = 0;
    for entry in fs::read_dir(corpus_dir()).into_iter().flatten().flatten() {
        if let Ok(data) = fs::read(entry.path()) {
            // Shown if the check fails: the input that failed is the last one named.
            println!("{}", entry.path().display());
            check::control(&data);
            n += 1;
        }
    }
    assert!(n > 0, "the control corpus is empty");
}

#[test]
fn seeds_pass_the_checks() {
    for seed in seeds() {
        check::control(seed.as_bytes());
    }
}

/// `cargo test -p bgpd --test fuzz_corpus -- --ignored` writes the seeds into the corpus
/// (`seed-N`; `config/fuzz/trim_corpus.py` renames what it keeps).
#[test]
#[ignore = "writes into bgpd/fuzz/corpus/control"]
fn write_seeds() {
    for (i, seed) in seeds().iter().enumerate() {
        fs::write(corpus_dir().join(format!("seed-{i:03}")), seed).unwrap();
    }
    fs::create_dir_all(bfd_corpus_dir()).unwrap();
    for (i, seed) in bfd_seeds().iter().enumerate() {
        fs::write(bfd_corpus_dir().join(format!("seed-{i:03}")), seed).unwrap();
    }
}

/// Every request kind encoded, every response kind encoded, and broken lines, without their
/// newline (the server hands the decoder the line without it).
fn seeds() -> Vec<String> {
    let mut lines: Vec<String> = requests()
        .iter()
        .map(|r| encode_request(r).unwrap())
        .chain(responses().iter().map(|r| encode_response(r).unwrap()))
        .map(|l| l.trim_end_matches('\n').to_string())
        .collect();
    lines.extend(BROKEN.iter().map(|s| s.to_string()));
    lines.push(format!("{}1{}", "[".repeat(200), "]".repeat(200)));
    lines.push(format!(
        "{{\"version\":1,\"request\":{}{{\"command\":\"show_summary\"}}{}}}",
        "{\"a\":".repeat(130),
        "}".repeat(130)
    ));
    lines
}

/// Every request kind, with optional fields absent and present.
fn requests() -> Vec<Request> {
    // A new request kind fails to compile here: give it seeds below.
    let _every_kind_seeded = |r: &Request| match r {
        Request::ShowSummary
        | Request::ShowBfd
        | Request::ShowNodes
        | Request::ShowCalicoConflicts
        | Request::ShowNeighbor { .. }
        | Request::ShowRib { .. }
        | Request::NeighborDown { .. }
        | Request::NeighborUp { .. }
        | Request::NeighborClear { .. }
        | Request::NeighborRefresh { .. }
        | Request::Reload { .. }
        | Request::DumpRib { .. }
        | Request::Drain { .. }
        | Request::DrainStatus { .. }
        | Request::Shutdown { .. } => (),
    };
    let mut all = vec![
        Request::ShowSummary,
        Request::ShowBfd,
        Request::ShowNodes,
        Request::ShowCalicoConflicts,
        Request::ShowNeighbor { neighbor: None },
        Request::ShowNeighbor {
            neighbor: Some("vbr".into()),
        },
        Request::ShowNeighbor {
            neighbor: Some("2001:db8::1".into()),
        },
        Request::NeighborDown {
            neighbor: "vbr".into(),
            message: None,
        },
        Request::NeighborDown {
            neighbor: "10.10.0.1".into(),
            message: Some("maintenance \"window\" 🛠\n\u{0}".into()),
        },
        Request::NeighborUp {
            neighbor: "vbr".into(),
        },
        Request::NeighborClear {
            neighbor: "calico-192.168.0.21".into(),
        },
        Request::NeighborRefresh {
            neighbor: "vbr".into(),
        },
        Request::DumpRib {
            file: "/tmp/rib.mrt".to_owned(),
            neighbor: None,
        },
        Request::DumpRib {
            file: "/var/lib/bgpd/vbr in.mrt".to_owned(),
            neighbor: Some("10.10.0.1".to_owned()),
        },
        Request::Reload { dry_run: false },
        Request::Reload { dry_run: true },
        Request::Drain {
            neighbor: None,
            undo: false,
        },
        Request::Drain {
            neighbor: Some("vbr".into()),
            undo: true,
        },
        Request::DrainStatus { neighbor: None },
        Request::DrainStatus {
            neighbor: Some("10.10.0.1".into()),
        },
        Request::Shutdown { message: None },
        Request::Shutdown {
            message: Some("bye".into()),
        },
    ];
    for (prefix, view) in [
        (None, RibView::LocRib),
        (Some("10.0.0.0/8"), RibView::AdjIn),
        (Some("2001:db8::/32"), RibView::AdjOut),
    ] {
        all.push(Request::ShowRib {
            prefix: prefix.map(|p| p.parse().unwrap()),
            longer: prefix.is_some(),
            neighbor: prefix.map(|_| "vbr".to_string()),
            view,
        });
    }
    all
}

/// Every response kind, empty and filled in.
fn responses() -> Vec<Response> {
    let _every_kind_seeded = |r: &Response| match r {
        Response::Summary(_)
        | Response::Bfd(_)
        | Response::Nodes(_)
        | Response::CalicoConflicts(_)
        | Response::Neighbors(_)
        | Response::Rib(_)
        | Response::Done { .. }
        | Response::Drain { .. }
        | Response::ReloadResult { .. }
        | Response::Error { .. } => (),
    };
    let summary = |name: &str, state, uptime| NeighborSummary {
        name: name.into(),
        address: "10.10.0.1".into(),
        remote_as: 4_200_000_000,
        state,
        uptime_seconds: uptime,
        prefixes_received: 12,
        prefixes_accepted: 10,
        prefixes_advertised: u64::MAX,
        dynamic_group: Some("calico".into()),
        families: vec![bgpd::control::protocol::FamilyCounts {
            family: "ipv4-unicast".into(),
            received: 12,
            accepted: 10,
            advertised: u64::MAX,
        }],
    };
    let mut vbr = summary("vbr", SessionState::Established, Some(700_000));
    let family_counts = std::mem::take(&mut vbr.families);
    let detail = NeighborDetail {
        summary: vbr,
        description: Some("cloud VBR".into()),
        local_address: Some("10.10.0.2".into()),
        router_id: Some("10.10.0.1".parse().unwrap()),
        hold_time: 9,
        keepalive: 3,
        capabilities: vec!["4-octet-as".into(), "graceful-restart(120s)".into()],
        families: vec!["ipv4-unicast".into(), "ipv6-unicast".into()],
        family_counts,
        messages_in: BTreeMap::from([("open".into(), 1), ("update".into(), 4)]),
        messages_out: BTreeMap::from([("keepalive".into(), 7), ("other".into(), 1)]),
        flaps: 2,
        last_error: Some("hold timer expired".into()),
        max_prefixes_out: Some(OutLimit {
            limit: 100,
            advertised: 100,
            suppressed: 3,
        }),
    };
    let route = |prefix: &str, best, next_hop: Option<&str>| RibEntry {
        prefix: prefix.parse().unwrap(),
        path_id: 7,
        best,
        multipath: !best,
        neighbor: "calico".into(),
        neighbor_address: Some("192.168.0.21".parse().unwrap()),
        next_hop: next_hop.map(|n| n.parse().unwrap()),
        next_hop_link_local: None,
        as_path: "64512 {65001 65002}".into(),
        origin: "incomplete".into(),
        local_pref: Some(100),
        med: Some(0),
        communities: vec!["no-export".into(), "65000:1".into()],
        large_communities: vec!["64512:1:2".into()],
        originator_id: Some("192.0.2.9".parse().unwrap()),
        cluster_list: vec!["192.0.2.1".parse().unwrap()],
        stale: true,
        reason: (!best).then(|| "higher router id".to_string()),
    };
    let bfd = BfdSession {
        neighbor: "vbr".into(),
        address: "203.0.113.2".parse().unwrap(),
        local_address: None,
        multihop: false,
        state: "up".into(),
        remote_state: "up".into(),
        local_discriminator: 1,
        remote_discriminator: u32::MAX,
        diagnostic: "control detection time expired".into(),
        remote_diagnostic: "none".into(),
        tx_interval_ms: 300,
        rx_interval_ms: 300,
        multiplier: 3,
        remote_multiplier: 255,
        detect_time_ms: 900,
        uptime_secs: Some(1),
        flaps: 2,
        packets_in: 10,
        packets_out: 11,
    };
    let mut all = vec![
        Response::Summary(vec![]),
        Response::Bfd(vec![]),
        Response::Bfd(vec![
            bfd.clone(),
            BfdSession {
                neighbor: "vbr2".into(),
                address: "2001:db8::2".parse().unwrap(),
                local_address: Some("2001:db8::1".parse().unwrap()),
                state: "admin-down".into(),
                multihop: true,
                uptime_secs: None,
                ..bfd
            },
        ]),
        Response::Neighbors(vec![]),
        Response::Rib(vec![]),
        Response::done("neighbor vbr: down"),
        Response::Nodes(vec![]),
        Response::Nodes(vec![bgpd::control::calico::NodeRow {
            address: "192.0.2.11".parse().unwrap(),
            neighbor: "calico".into(),
            state: SessionState::Established,
            uptime_seconds: Some(60),
            graceful_restart: "none".into(),
            blocks: vec!["198.18.1.0/26".parse().unwrap()],
            borrowed: vec!["198.18.2.7/32".parse().unwrap()],
            refused: vec![bgpd::control::calico::Refused {
                prefix: "0.0.0.0/0".parse().unwrap(),
                reason: "outside the Calico pools".into(),
            }],
        }]),
        Response::CalicoConflicts(vec![bgpd::control::calico::CalicoConflict {
            block: "198.18.1.0/26".parse().unwrap(),
            nodes: vec![
                bgpd::control::calico::ConflictNode {
                    address: "192.0.2.11".parse().unwrap(),
                    stale: false,
                },
                bgpd::control::calico::ConflictNode {
                    address: "192.0.2.12".parse().unwrap(),
                    stale: true,
                },
            ],
        }]),
        Response::Drain {
            delivered: vec!["vbr 10.10.0.1".into()],
            waiting: vec![],
        },
        Response::Drain {
            delivered: vec![],
            waiting: vec!["calico 192.168.0.21".into(), "vbr 10.10.0.1".into()],
        },
        Response::error("no such neighbor: nope"),
        Response::ReloadResult {
            applied: true,
            diff: "neighbor vbr: reset (hold_time)\n".into(),
            errors: vec![],
        },
        Response::ReloadResult {
            applied: false,
            diff: String::new(),
            errors: vec!["bgpd.toml:3:7: bad".into()],
        },
        Response::Rib(vec![
            route("10.100.0.0/16", true, Some("192.168.0.21")),
            route("2001:db8::/48", false, Some("fe80::1")),
            route("0.0.0.0/0", false, None),
        ]),
    ];
    let mut states = SessionState::ALL.iter();
    all.push(Response::Summary(vec![
        summary("a", *states.next().unwrap(), None),
        summary("é", *states.next().unwrap(), Some(59)),
        summary("c", *states.next().unwrap(), Some(86_399)),
    ]));
    let mut idle = detail.clone();
    idle.summary = summary("b", *states.next().unwrap(), None);
    idle.max_prefixes_out = None;
    let mut other = detail.clone();
    other.summary = summary("c", *states.next().unwrap(), Some(1));
    all.push(Response::Neighbors(vec![detail, idle, other]));
    all
}

/// Lines that are not what either side sends.
const BROKEN: &[&str] = &[
    "",
    " ",
    "not json",
    "{",
    "{}",
    "null",
    "[]",
    "1",
    "\"version\"",
    "{\"version\":1}",
    "{\"version\":2,\"request\":{\"command\":\"warp\"}}",
    "{\"version\":0,\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":-1,\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":1.0,\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":\"1\",\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":18446744073709551616,\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":1,\"request\":{\"command\":\"show_summary\"}",
    "{\"version\":1,\"request\":{\"command\":\"show_summary\"}}}",
    "{\"version\":1,\"request\":{\"command\":\"show_summary\"}} {}",
    "{\"version\":1,\"version\":2,\"request\":{\"command\":\"show_summary\"}}",
    "{\"version\":1,\"request\":{\"command\":\"warp\"}}",
    "{\"version\":1,\"request\":{\"command\":null}}",
    "{\"version\":1,\"request\":{}}",
    "{\"version\":1,\"request\":\"show_summary\"}",
    "{\"version\":1,\"request\":{\"command\":\"show_summary\",\"extra\":[1,{}]}}",
    "{\"version\":1,\"request\":{\"command\":\"show_rib\",\"prefix\":\"10.0.0.0/33\"}}",
    "{\"version\":1,\"request\":{\"command\":\"show_rib\",\"prefix\":\"10.0.0.1/8\",\"view\":\"adj_in\"}}",
    "{\"version\":1,\"request\":{\"command\":\"show_rib\",\"prefix\":\"::ffff:1.2.3.4/128\"}}",
    "{\"version\":1,\"request\":{\"command\":\"show_rib\",\"view\":\"nope\",\"longer\":1}}",
    "{\"version\":1,\"request\":{\"command\":\"neighbor_down\"}}",
    "{\"version\":1,\"request\":{\"command\":\"neighbor_down\",\"neighbor\":\"\\ud800\"}}",
    "{\"version\":1,\"request\":{\"command\":\"neighbor_down\",\"neighbor\":\"\\ud83d\\ude00\\u0000\"}}",
    "{\"version\":1,\"request\":{\"command\":\"reload\",\"dry_run\":\"yes\"}}",
    "{\"version\":1,\"request\":{\"command\":\"shutdown\",\"message\":\"a\nb\"}}",
    "{\"version\":1,\"response\":{\"type\":\"done\"}}",
    "{\"version\":1,\"response\":{\"type\":\"done\",\"data\":{\"message\":\"ok\"},\"extra\":1}}",
    "{\"version\":1,\"response\":{\"type\":\"summary\",\"data\":[{}]}}",
    "{\"version\":1,\"response\":{\"type\":\"summary\",\"data\":[{\"name\":\"a\",\"address\":\"b\",\"remote_as\":4294967296,\"state\":\"idle\",\"uptime_seconds\":null,\"prefixes_received\":0,\"prefixes_accepted\":0,\"prefixes_advertised\":0,\"dynamic_group\":null}]}}",
    "{\"version\":1,\"response\":{\"type\":\"summary\",\"data\":[{\"name\":\"a\",\"address\":\"b\",\"remote_as\":1,\"state\":\"idle\",\"uptime_seconds\":18446744073709551615,\"prefixes_received\":0,\"prefixes_accepted\":0,\"prefixes_advertised\":0}]}}",
    "{\"version\":1,\"response\":{\"type\":\"rib\",\"data\":[{\"prefix\":\"10.0.0.0/8\"}]}}",
    "{\"version\":1,\"response\":{\"type\":\"neighbors\",\"data\":[{\"name\":\"a\",\"messages_in\":{\"\":1}}]}}",
    "{\"version\":1,\"response\":{\"type\":\"reload_result\",\"data\":{\"applied\":false,\"diff\":\"\",\"errors\":[\"\"]}}}",
    "{\"version\":1,\"response\":{\"type\":\"error\",\"data\":{\"message\":\"\\u001b[31mred\"}}}",
];
