//! The control socket end to end: `serve` on a temporary socket with a fake daemon task
//! answering canned responses, driven by the client library, by raw lines, and by the
//! built `bgpctl` binary (output, `--json` keys, exit codes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bgpd::control::client::{Client, ClientError};
use bgpd::control::protocol::{
    FamilyCounts, NeighborDetail, NeighborSummary, OutLimit, Request, Response, RibEntry,
    SessionState,
};
use bgpd::control::server::{serve, ControlCommand, ControlServer};
use tokio::sync::mpsc;

/// A fresh directory for one test's socket (short: socket paths are limited to ~108 bytes).
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "bgpd-ctl-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn vbr() -> NeighborSummary {
    NeighborSummary {
        name: "vbr".into(),
        address: "10.10.0.1".into(),
        remote_as: 45104,
        state: SessionState::Established,
        uptime_seconds: Some(3723),
        prefixes_received: 12,
        prefixes_accepted: 10,
        prefixes_advertised: 1,
        dynamic_group: None,
        families: vec![
            FamilyCounts {
                family: "ipv4-unicast".into(),
                received: 9,
                accepted: 8,
                advertised: 1,
            },
            FamilyCounts {
                family: "ipv6-unicast".into(),
                received: 3,
                accepted: 2,
                advertised: 0,
            },
        ],
    }
}

fn calico_node() -> NeighborSummary {
    NeighborSummary {
        name: "calico-192.168.0.21".into(),
        address: "192.168.0.21".into(),
        remote_as: 64512,
        state: SessionState::Active,
        uptime_seconds: None,
        prefixes_received: 0,
        prefixes_accepted: 0,
        prefixes_advertised: 0,
        dynamic_group: Some("calico".into()),
        families: vec![],
    }
}

fn vbr_detail() -> NeighborDetail {
    // As the daemon builds it: the summary's per-family counts become `family_counts`.
    let mut summary = vbr();
    let family_counts = std::mem::take(&mut summary.families);
    NeighborDetail {
        summary,
        description: Some("cloud VBR".into()),
        local_address: Some("10.10.0.2".into()),
        router_id: Some("10.10.0.1".parse().unwrap()),
        hold_time: 9,
        keepalive: 3,
        capabilities: vec![
            "4-octet-as".into(),
            "route-refresh".into(),
            "graceful-restart(120s)".into(),
        ],
        families: vec!["ipv4-unicast".into()],
        family_counts,
        messages_in: BTreeMap::from([("open".into(), 1), ("update".into(), 4)]),
        messages_out: BTreeMap::from([("open".into(), 1), ("keepalive".into(), 7)]),
        flaps: 2,
        last_error: Some("hold timer expired".into()),
        max_prefixes_out: Some(OutLimit {
            limit: 100,
            advertised: 1,
            suppressed: 0,
        }),
    }
}

fn route(best: bool, neighbor: &str, reason: Option<&str>) -> RibEntry {
    RibEntry {
        prefix: "10.100.0.0/16".parse().unwrap(),
        path_id: 0,
        best,
        multipath: false,
        neighbor: neighbor.into(),
        neighbor_address: None,
        next_hop: Some("192.168.0.21".parse().unwrap()),
        next_hop_link_local: None,
        as_path: String::new(),
        origin: "igp".into(),
        local_pref: Some(100),
        med: None,
        communities: vec![],
        large_communities: vec![],
        originator_id: None,
        cluster_list: vec![],
        stale: false,
        reason: reason.map(str::to_string),
    }
}

/// The fake daemon: canned answers; neighbor actions echo the request they got.
fn answer(request: Request) -> Response {
    match request {
        Request::ShowSummary => Response::Summary(vec![vbr(), calico_node()]),
        Request::ShowNeighbor { .. } => Response::Neighbors(vec![vbr_detail()]),
        Request::ShowRib { .. } => Response::Rib(vec![
            route(true, "calico-192.168.0.21", None),
            route(false, "calico-192.168.0.22", Some("higher router id")),
        ]),
        Request::NeighborDown { neighbor, .. } if neighbor == "nope" => {
            Response::error("no such neighbor: nope")
        }
        Request::Reload { dry_run: true } => Response::ReloadResult {
            applied: false,
            diff: "neighbor vbr: hold_time 9 -> 30 (session reset)".into(),
            errors: vec![],
        },
        Request::Reload { dry_run: false } => Response::ReloadResult {
            applied: false,
            diff: String::new(),
            errors: vec!["bgpd.toml:3:7: unknown key `asm`".into()],
        },
        other => Response::done(format!("{other:?}")),
    }
}

/// Starts the server with the fake daemon behind it.
async fn start(dir: &Path) -> (ControlServer, PathBuf) {
    let path = dir.join("bgpd.sock");
    let (tx, mut rx) = mpsc::channel::<ControlCommand>(8);
    tokio::spawn(async move {
        while let Some((request, reply)) = rx.recv().await {
            let _ = reply.send(answer(request));
        }
    });
    let server = serve(&path, tx).await.unwrap();
    (server, path)
}

/// Runs the built `bgpctl` off the runtime's threads.
async fn bgpctl(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bgpctl"));
    cmd.arg("--socket").arg(socket).args(args);
    cmd.env_remove("BGPCTL_SOCKET");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_library_round_trips_several_requests_on_one_connection() {
    let dir = temp_dir("client");
    let (_server, path) = start(&dir).await;
    let got = tokio::task::spawn_blocking(move || {
        let mut client = Client::connect(&path, Duration::from_secs(10)).unwrap();
        let a = client.request(&Request::ShowSummary).unwrap();
        let b = client
            .request(&Request::NeighborUp {
                neighbor: "vbr".into(),
            })
            .unwrap();
        (a, b)
    })
    .await
    .unwrap();
    assert_eq!(got.0, Response::Summary(vec![vbr(), calico_node()]));
    assert_eq!(got.1, Response::done("NeighborUp { neighbor: \"vbr\" }"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_has_mode_0660_and_is_removed_on_shutdown_and_drop() {
    let dir = temp_dir("mode");
    let (server, path) = start(&dir).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    server.shutdown().await;
    assert!(!path.exists());

    let (server, path) = start(&dir).await;
    assert!(path.exists());
    drop(server);
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_live_socket_and_clears_a_stale_one() {
    let dir = temp_dir("live");
    let (_server, path) = start(&dir).await;
    let (tx, _rx) = mpsc::channel(1);
    let err = serve(&path, tx).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(
        err.to_string(),
        format!("another bgpd is running on {}", path.display())
    );
    // The first server still answers.
    let o = bgpctl(&path, &["show", "summary"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A socket file nobody listens on, as a crashed daemon leaves it.
    let dir = temp_dir("stale");
    let stale = dir.join("bgpd.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let (_server, path) = start(&dir).await;
    assert_eq!(path, stale);
    let o = bgpctl(&path, &["show", "summary"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // A regular file is not ours to delete.
    let dir = temp_dir("file");
    let file = dir.join("bgpd.sock");
    std::fs::write(&file, "precious").unwrap();
    let (tx, _rx) = mpsc::channel(1);
    let err = serve(&file, tx).await.unwrap_err();
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

/// Sends raw lines and reads the answer lines, as a foreign client would.
async fn raw(path: &Path, lines: Vec<Vec<u8>>) -> Vec<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut stream = StdUnixStream::connect(&path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut answers = Vec::new();
        for line in lines {
            if stream.write_all(&line).is_err() {
                break;
            }
            let mut answer = String::new();
            if reader.read_line(&mut answer).unwrap_or(0) == 0 {
                break;
            }
            answers.push(answer);
        }
        answers
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_a_clean_error_and_the_connection_survives() {
    let dir = temp_dir("malformed");
    let (_server, path) = start(&dir).await;
    let answers = raw(
        &path,
        vec![
            b"this is not json\n".to_vec(),
            b"{\"version\":2,\"request\":{\"command\":\"show_summary\"}}\n".to_vec(),
            b"{\"version\":1,\"request\":{\"command\":\"warp_speed\"}}\n".to_vec(),
            b"{\"version\":1,\"request\":{\"command\":\"show_neighbor\"}}\n".to_vec(),
        ],
    )
    .await;
    assert_eq!(answers.len(), 4, "{answers:?}");
    let err = |i: usize| -> String {
        let v: serde_json::Value = serde_json::from_str(&answers[i]).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["response"]["type"], "error", "{v}");
        v["response"]["data"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(err(0).starts_with("malformed message"), "{}", err(0));
    assert!(
        err(1).starts_with("unsupported protocol version 2"),
        "{}",
        err(1)
    );
    assert!(err(2).contains("warp_speed"), "{}", err(2));
    let ok: serde_json::Value = serde_json::from_str(&answers[3]).unwrap();
    assert_eq!(ok["response"]["type"], "neighbors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_line_is_refused_and_the_connection_closed() {
    let dir = temp_dir("long");
    let (_server, path) = start(&dir).await;
    let mut long = vec![b'x'; 70 * 1024];
    long.push(b'\n');
    let answers = raw(&path, vec![long, b"{}\n".to_vec()]).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert!(
        answers[0].contains("longer than 65536 bytes"),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_daemon_drops_gets_an_error() {
    let dir = temp_dir("dropped");
    let path = dir.join("bgpd.sock");
    let (tx, mut rx) = mpsc::channel::<ControlCommand>(1);
    tokio::spawn(async move {
        while let Some((_request, reply)) = rx.recv().await {
            drop(reply);
        }
    });
    let _server = serve(&path, tx).await.unwrap();
    let o = bgpctl(&path, &["show", "summary"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dropped the request"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgpctl_json_has_the_stable_keys() {
    let dir = temp_dir("json");
    let (_server, path) = start(&dir).await;

    let o = bgpctl(&path, &["--json", "show", "summary"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let keys: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "name",
        "address",
        "remote_as",
        "state",
        "uptime_seconds",
        "prefixes_received",
        "prefixes_accepted",
        "prefixes_advertised",
        "dynamic_group",
        "families",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(rows[0]["state"], "established");
    assert_eq!(rows[0]["remote_as"], 45104);
    assert_eq!(rows[1]["uptime_seconds"], serde_json::Value::Null);
    assert_eq!(rows[1]["dynamic_group"], "calico");

    let o = bgpctl(&path, &["show", "neighbor", "vbr", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let n = &v[0];
    for key in [
        "name",
        "address",
        "description",
        "local_address",
        "router_id",
        "hold_time",
        "keepalive",
        "capabilities",
        "families",
        "messages_in",
        "messages_out",
        "flaps",
        "last_error",
        "max_prefixes_out",
    ] {
        assert!(n.get(key).is_some(), "missing {key} in {n}");
    }
    assert_eq!(n["max_prefixes_out"]["limit"], 100);
    assert_eq!(n["messages_in"]["update"], 4);

    let o = bgpctl(&path, &["--json", "show", "rib"]).await;
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v[0]["prefix"], "10.100.0.0/16");
    assert_eq!(v[0]["best"], true);
    assert_eq!(v[1]["reason"], "higher router id");

    let o = bgpctl(&path, &["--json", "neighbor", "vbr", "up"]).await;
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"message": "NeighborUp { neighbor: \"vbr\" }"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgpctl_prints_aligned_tables() {
    let dir = temp_dir("human");
    let (_server, path) = start(&dir).await;
    let o = bgpctl(&path, &["show", "summary"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("Neighbor"), "{out}");
    // Left-aligned columns start where their header starts; right-aligned ones end there.
    let state = lines[0].find("State").unwrap();
    assert_eq!(lines[1].find("Established"), Some(state), "{out}");
    assert_eq!(lines[3].find("Active"), Some(state), "{out}");
    let as_end = lines[0].find("AS").unwrap() + 2;
    assert_eq!(lines[1].find("45104").map(|i| i + 5), Some(as_end), "{out}");
    assert!(lines[1].contains("01:02:03"), "{out}");

    let o = bgpctl(&path, &["show", "neighbor", "vbr"]).await;
    let out = stdout(&o);
    assert!(out.contains("BGP neighbor vbr, address 10.10.0.1, remote AS 45104"));
    assert!(out.contains("Capabilities: 4-octet-as, route-refresh, graceful-restart(120s)"));
    assert!(out.contains("Outbound limit: 100 (advertised 1, suppressed 0)"));
    assert!(out.contains("Last error: hold timer expired"));

    let o = bgpctl(&path, &["show", "rib", "10.100.0.0/16", "--longer"]).await;
    let out = stdout(&o);
    let best = out.lines().find(|l| l.starts_with("*>")).unwrap();
    assert!(
        best.contains("10.100.0.0/16") && best.contains(" i"),
        "{out}"
    );
    assert!(out.contains("higher router id"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgpctl_sends_the_verbs_as_requests() {
    let dir = temp_dir("verbs");
    let (_server, path) = start(&dir).await;
    let cases: [(&[&str], &str); 5] = [
        (
            &["neighbor", "vbr", "down", "--message", "maintenance"],
            "NeighborDown { neighbor: \"vbr\", message: Some(\"maintenance\") }",
        ),
        (&["neighbor", "vbr", "clear"], "NeighborClear"),
        (&["neighbor", "10.10.0.1", "refresh"], "NeighborRefresh"),
        (
            &["shutdown", "-m", "bye"],
            "Shutdown { message: Some(\"bye\") }",
        ),
        (&["neighbor", "vbr", "up"], "NeighborUp"),
    ];
    for (args, expect) in cases {
        let o = bgpctl(&path, args).await;
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).contains(expect), "{args:?}: {}", stdout(&o));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgpctl_exit_codes() {
    let dir = temp_dir("codes");
    let (_server, path) = start(&dir).await;

    // 1: the daemon answered with an error.
    let o = bgpctl(&path, &["neighbor", "nope", "down"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "bgpctl: no such neighbor: nope\n");
    let o = bgpctl(&path, &["reload"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("bgpd.toml:3:7: unknown key"),
        "{}",
        stdout(&o)
    );

    // Reload --dry-run shows the diff and succeeds.
    let o = bgpctl(&path, &["reload", "--dry-run"]).await;
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("(session reset)\ndry run: nothing applied"));

    // 2: usage.
    let o = bgpctl(&path, &["show", "everything"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = bgpctl(&path, &["show", "rib", "--in", "--out"]).await;
    assert_eq!(o.status.code(), Some(2));

    // 3: no daemon.
    let missing = dir.join("missing.sock");
    let o = bgpctl(&missing, &["show", "summary"]).await;
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        format!(
            "bgpctl: bgpd is not running (no socket at {})\n",
            missing.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bgpctl_reads_the_socket_from_the_environment() {
    let dir = temp_dir("env");
    let (_server, path) = start(&dir).await;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bgpctl"));
    cmd.args(["show", "summary"]).env("BGPCTL_SOCKET", &path);
    let o = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // One line per family; the second leaves the neighbor's columns empty.
    let lines: Vec<&str> = out.lines().collect();
    let v4 = lines.iter().position(|l| l.starts_with("vbr ")).unwrap();
    assert!(lines[v4].contains("ipv4-unicast"), "{out}");
    let v6: Vec<&str> = lines[v4 + 1].split_whitespace().collect();
    assert_eq!(v6, ["ipv6-unicast", "3", "2", "0"], "{out}");
    assert!(lines[v4 + 1].starts_with(' '), "{out}");
}

#[test]
fn show_neighbor_json_has_one_families_key() {
    // The summary is flattened into the detail: its per-family counts must not come out as a
    // second `families` key (a JSON reader keeps one of the two).
    let json = serde_json::to_string(&vbr_detail()).unwrap();
    assert_eq!(json.matches("\"families\"").count(), 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["families"], serde_json::json!(["ipv4-unicast"]));
    assert_eq!(v["family_counts"][0]["family"], "ipv4-unicast");
    let back: NeighborDetail = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vbr_detail());
}

#[test]
fn client_reports_a_missing_daemon() {
    let dir = temp_dir("nodaemon");
    let err = Client::connect(&dir.join("none.sock"), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err}");
}

#[test]
fn help_and_completions() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bgpctl"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    assert!(
        help.contains("Examples:") && help.contains("Exit status:"),
        "{help}"
    );
    let o = run(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("_bgpctl()"));
}
