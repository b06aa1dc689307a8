//! The Prometheus endpoint scraped over real HTTP on 127.0.0.1: names, labels and values
//! of the contract's metrics, series removal, and 404 elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use bgpd::control::protocol::SessionState;
use bgpd::metrics::{serve_metrics, Metrics, MetricsServer, NeighborLabels};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A scrape: the status line, the headers (lower-cased names) and the body.
struct Scrape {
    status: String,
    headers: Vec<(String, String)>,
    body: String,
}

async fn get(server: &MetricsServer, method: &str, path: &str) -> Scrape {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    Scrape {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The value of the series `name` whose labels include every `labels` pair.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            (n == name).then_some((rest, v))
        })
        .find(|(rest, _)| {
            labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse().unwrap())
}

fn count(body: &str, name: &str) -> usize {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .count()
}

fn vbr() -> NeighborLabels {
    NeighborLabels::new("vbr", "10.10.0.1", 45104)
}

fn node() -> NeighborLabels {
    NeighborLabels::new("calico-192.168.0.21", "192.168.0.21", 64512)
}

fn populated() -> Arc<Metrics> {
    let m = Metrics::new().unwrap();
    m.set_session(
        &vbr(),
        SessionState::Established,
        Some(Duration::from_secs(90)),
    );
    m.set_session(&node(), SessionState::Active, None);
    m.set_flaps(&vbr(), 3);
    m.set_prefixes(&vbr(), "ipv4-unicast", 12, 10, 1);
    m.set_prefixes(&node(), "ipv4-unicast", 2, 2, 11);
    m.set_advertised_limit(&vbr(), Some(100));
    m.set_messages(&vbr(), [("update", 5), ("keepalive", 2)], [("update", 1)]);
    m.set_last_error(&vbr(), Some("hold timer expired"));
    m.set_last_error(&node(), Some("connection refused"));
    m.set_rib("ipv4-unicast", 40, 55);
    m.set_interned_attribute_sets(17);
    m.observe_update_processing(Duration::from_micros(300));
    m.observe_update_processing(Duration::from_millis(20));
    m.set_export_groups([("ibgp-rr-clients", 4), ("ebgp-vbr", 1)]);
    Arc::new(m)
}

#[tokio::test]
async fn scrape_shows_the_contract_metrics() {
    let metrics = populated();
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
        .await
        .unwrap();
    let s = get(&server, "GET", "/metrics").await;
    assert_eq!(s.status, "HTTP/1.1 200 OK");
    let ctype = s.headers.iter().find(|(k, _)| k == "content-type").unwrap();
    assert!(ctype.1.contains("version=0.0.4"), "{}", ctype.1);
    let b = &s.body;
    let vbr = [
        ("neighbor", "vbr"),
        ("address", "10.10.0.1"),
        ("remote_as", "45104"),
    ];
    assert_eq!(value(b, "bgp_session_state", &vbr), Some(6.0));
    assert_eq!(
        value(
            b,
            "bgp_session_state",
            &[("neighbor", "calico-192.168.0.21")]
        ),
        Some(3.0)
    );
    assert_eq!(value(b, "bgp_session_uptime_seconds", &vbr), Some(90.0));
    assert_eq!(
        value(
            b,
            "bgp_session_uptime_seconds",
            &[("neighbor", "calico-192.168.0.21")]
        ),
        Some(0.0)
    );
    assert_eq!(value(b, "bgp_session_flaps_total", &vbr), Some(3.0));
    let v4 = [("neighbor", "vbr"), ("afi_safi", "ipv4-unicast")];
    assert_eq!(value(b, "bgp_prefixes_received", &v4), Some(12.0));
    assert_eq!(value(b, "bgp_prefixes_accepted", &v4), Some(10.0));
    assert_eq!(value(b, "bgp_prefixes_advertised", &v4), Some(1.0));
    assert_eq!(value(b, "bgp_prefixes_advertised_limit", &vbr), Some(100.0));
    assert_eq!(
        value(
            b,
            "bgp_messages_received_total",
            &[("neighbor", "vbr"), ("type", "update")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            b,
            "bgp_messages_sent_total",
            &[("neighbor", "vbr"), ("type", "update")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            b,
            "bgp_last_error_info",
            &[("neighbor", "vbr"), ("error", "hold timer expired")]
        ),
        Some(1.0)
    );
    let afi = [("afi_safi", "ipv4-unicast")];
    assert_eq!(value(b, "bgp_rib_prefixes", &afi), Some(40.0));
    assert_eq!(value(b, "bgp_rib_paths", &afi), Some(55.0));
    assert_eq!(value(b, "bgp_interned_attribute_sets", &[]), Some(17.0));
    assert_eq!(
        value(b, "bgp_update_processing_seconds_count", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(
            b,
            "bgp_update_processing_seconds_bucket",
            &[("le", "0.001")]
        ),
        Some(1.0)
    );
    assert_eq!(value(b, "bgp_export_groups", &[]), Some(2.0));
    assert_eq!(
        value(
            b,
            "bgp_export_group_members",
            &[("group", "ibgp-rr-clients")]
        ),
        Some(4.0)
    );
    for (name, kind) in [
        ("bgp_session_flaps_total", "counter"),
        ("bgp_messages_received_total", "counter"),
        ("bgp_session_state", "gauge"),
        ("bgp_update_processing_seconds", "histogram"),
    ] {
        assert!(b.contains(&format!("# TYPE {name} {kind}\n")), "{name}");
    }
}

#[tokio::test]
async fn absolute_counts_and_replaced_errors() {
    let metrics = populated();
    metrics.set_messages(&vbr(), [("update", 8)], []);
    metrics.set_flaps(&vbr(), 4);
    metrics.set_last_error(&vbr(), Some("cease: administrative reset"));
    metrics.set_session(&vbr(), SessionState::Idle, Some(Duration::from_secs(5)));
    metrics.set_export_groups([("ibgp-rr-clients", 5)]);
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
        .await
        .unwrap();
    let b = get(&server, "GET", "/metrics").await.body;
    let n = [("neighbor", "vbr")];
    assert_eq!(
        value(
            &b,
            "bgp_messages_received_total",
            &[("neighbor", "vbr"), ("type", "update")]
        ),
        Some(8.0)
    );
    assert_eq!(value(&b, "bgp_session_flaps_total", &n), Some(4.0));
    assert_eq!(value(&b, "bgp_session_state", &n), Some(1.0));
    assert_eq!(value(&b, "bgp_session_uptime_seconds", &n), Some(0.0));
    // One error series per neighbor: the old reason is gone.
    assert!(!b.contains("hold timer expired"), "{b}");
    assert_eq!(
        value(
            &b,
            "bgp_last_error_info",
            &[
                ("neighbor", "vbr"),
                ("error", "cease: administrative reset")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(count(&b, "bgp_export_group_members"), 1);
    assert_eq!(value(&b, "bgp_export_groups", &[]), Some(1.0));
}

#[tokio::test]
async fn removing_a_neighbor_drops_all_its_series_only() {
    let metrics = populated();
    metrics.remove_neighbor(&node());
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
        .await
        .unwrap();
    let b = get(&server, "GET", "/metrics").await.body;
    assert!(!b.contains("calico-192.168.0.21"), "{b}");
    assert!(!b.contains("connection refused"), "{b}");
    for name in [
        "bgp_session_state",
        "bgp_prefixes_received",
        "bgp_last_error_info",
    ] {
        assert_eq!(count(&b, name), 1, "{name}");
    }

    metrics.remove_neighbor(&vbr());
    let b = get(&server, "GET", "/metrics").await.body;
    assert!(!b.contains("neighbor="), "{b}");
    // Daemon-wide series stay.
    assert_eq!(value(&b, "bgp_rib_prefixes", &[]), Some(40.0));
}

#[tokio::test]
async fn other_paths_and_methods() {
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), populated())
        .await
        .unwrap();
    assert_eq!(
        get(&server, "GET", "/").await.status,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        get(&server, "GET", "/metrics/x").await.status,
        "HTTP/1.1 404 Not Found"
    );
    let s = get(&server, "POST", "/metrics").await;
    assert_eq!(s.status, "HTTP/1.1 405 Method Not Allowed");
    assert!(s
        .headers
        .iter()
        .any(|(k, v)| k == "allow" && v.contains("GET")));
    // Still serving after those.
    let s = get(&server, "GET", "/metrics?x=1").await;
    assert_eq!(s.status, "HTTP/1.1 200 OK");
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), populated())
        .await
        .unwrap();
    let addr = server.local_addr();
    drop(server);
    // The accept loop is aborted: connecting fails, bounded by polling.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused);
}

#[tokio::test]
async fn limits_fib_and_bfd_series() {
    let metrics = populated();
    metrics.set_limits(&vbr(), Some(1000), 3);
    metrics.set_limits(&node(), None, 0);
    metrics.set_fib(42, 50, 8, 2, 1);
    metrics.set_bfd([
        (
            "vbr",
            "10.10.0.1".to_string(),
            3,
            2,
            Some(Duration::from_millis(900)),
        ),
        ("vbr2", "10.10.0.5".to_string(), 1, 5, None),
    ]);
    let server = serve_metrics("127.0.0.1:0".parse().unwrap(), Arc::clone(&metrics))
        .await
        .unwrap();
    let b = get(&server, "GET", "/metrics").await.body;
    let v = [("neighbor", "vbr"), ("address", "10.10.0.1")];
    assert_eq!(value(&b, "bgp_prefixes_received_limit", &v), Some(1000.0));
    assert_eq!(
        count(&b, "bgp_prefixes_received_limit"),
        1,
        "no limit, no series"
    );
    assert_eq!(
        value(&b, "bgp_prefixes_advertised_held_back", &v),
        Some(3.0)
    );
    assert_eq!(value(&b, "bgp_fib_routes", &[]), Some(42.0));
    assert_eq!(value(&b, "bgp_fib_installs_total", &[]), Some(50.0));
    assert_eq!(value(&b, "bgp_fib_removes_total", &[]), Some(8.0));
    assert_eq!(value(&b, "bgp_fib_errors_total", &[]), Some(2.0));
    assert_eq!(value(&b, "bgp_fib_resyncs_total", &[]), Some(1.0));
    assert_eq!(value(&b, "bgp_bfd_session_up", &v), Some(1.0));
    assert_eq!(value(&b, "bgp_bfd_detect_time_seconds", &v), Some(0.9));
    let vbr2 = [("neighbor", "vbr2")];
    assert_eq!(value(&b, "bgp_bfd_session_up", &vbr2), Some(0.0));
    assert_eq!(value(&b, "bgp_bfd_session_state", &vbr2), Some(1.0));
    assert_eq!(value(&b, "bgp_bfd_session_state", &v), Some(3.0));
    assert_eq!(value(&b, "bgp_bfd_state_changes_total", &vbr2), Some(5.0));
    // A BFD session that is gone loses its series; the other keeps them.
    metrics.set_bfd([("vbr", "10.10.0.1".to_string(), 3, 2, None)]);
    let b = get(&server, "GET", "/metrics").await.body;
    assert_eq!(count(&b, "bgp_bfd_session_up"), 1);
    assert_eq!(value(&b, "bgp_bfd_session_up", &vbr2), None);
    // Removing the neighbor drops its limit series.
    metrics.remove_neighbor(&vbr());
    let b = get(&server, "GET", "/metrics").await.body;
    assert_eq!(count(&b, "bgp_prefixes_received_limit"), 0);
    assert_eq!(
        count(&b, "bgp_prefixes_advertised_held_back"),
        1,
        "the node's"
    );
}
