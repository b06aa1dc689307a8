//! A short soak with faults, on loopback: a reflector between an injector and a client.
//! The injector is killed (-9) and reset (Cease) at random moments while its routes are in
//! flight, the client is stalled past its hold time, the reflector itself is killed and
//! restarted; after each fault the client holds exactly the injector's routes, and the
//! reflector's memory stays bounded. Needs root (port 179).
//!
//! `BGPD_SOAK_FLAPS` and `BGPD_SOAK_PREFIXES` make it longer (`bench/soak` runs 1,000 flaps).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{daemon, eventually, neighbor, Bgpd};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const GR: &str = "graceful_restart = { restart_time = 5 }";

/// The injector: `prefixes` /32s of 198.18.0.0/15, graceful restart.
fn injector_config(prefixes: usize) -> String {
    let mut originate = String::new();
    for i in 0..prefixes {
        let (hi, lo) = (i / 256, i % 256);
        originate += &format!("[[originate]]\nprefix = \"198.18.{hi}.{lo}/32\"\n");
    }
    daemon(61, &(originate + &neighbor("r", 60, 61, GR)))
}

fn reflector_config() -> String {
    let client = format!("route_reflector_client = true\n{GR}");
    // The client's session has a short hold time so that a stall expires it quickly.
    let stalled = format!("{client}\nhold_time = 3");
    daemon(
        60,
        &(neighbor("i", 61, 60, &client) + &neighbor("c", 62, 60, &stalled)),
    )
}

/// Routes the client has from the reflector, and whether the session is up.
fn client_view(c: &Bgpd) -> (u64, bool) {
    let v = c.ctl(&["show", "summary"]);
    let row = v
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "r").cloned())
        .unwrap_or_default();
    (
        row["prefixes_accepted"].as_u64().unwrap_or(0),
        row["state"] == "established",
    )
}

fn converged(c: &Bgpd, prefixes: usize, what: &str, extra: &dyn Fn() -> String) {
    let want = u64::try_from(prefixes).unwrap();
    let limit = Duration::from_secs(30);
    assert!(
        eventually(limit, || client_view(c) == (want, true)),
        "{what}: the client has {:?}, want {want} routes\n{}",
        client_view(c),
        extra()
    );
}

#[test]
fn flaps_stalls_and_kills_leave_exact_routes_and_bounded_memory() {
    let flaps = env_or("BGPD_SOAK_FLAPS", 20);
    let prefixes = env_or("BGPD_SOAK_PREFIXES", 1000);
    let mut rng = Rng(0x005e_ed0f_50a6);
    let mut r = Bgpd::start("soak-r", &reflector_config());
    let mut i = Bgpd::start("soak-i", &injector_config(prefixes));
    let c = Bgpd::start("soak-c", &daemon(62, &neighbor("r", 60, 62, GR)));
    converged(&c, prefixes, "start", &|| r.log());
    let warm_rss = r.rss_kb();
    let started = Instant::now();

    for n in 0..flaps {
        // A random moment: while the injector's table may still be on its way.
        let pause = Duration::from_millis(rng.below(800));
        if rng.below(2) == 0 {
            // The injector dies without a word and comes back: its routes stay stale on
            // the reflector (graceful restart), then are refreshed; the client never holds
            // more than the injector's routes.
            i.kill();
            std::thread::sleep(pause);
            i = Bgpd::start("soak-i", &injector_config(prefixes));
        } else {
            // The operator resets the session (Cease): routes withdrawn and learned again.
            std::thread::sleep(pause);
            r.ctl(&["neighbor", "i", "clear"]);
        }
        let (have, _) = client_view(&c);
        assert!(
            have <= u64::try_from(prefixes).unwrap(),
            "flap {n}: the client holds {have} routes"
        );
        converged(&c, prefixes, &format!("flap {n}"), &|| {
            let tail = |d: &Bgpd| {
                let log = d.log();
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            };
            format!(
                "reflector: {}\n{}\ninjector: {}\n{}",
                r.ctl(&["show", "summary"]),
                tail(&r),
                i.ctl(&["show", "summary"]),
                tail(&i)
            )
        });
    }
    let flapped_rss = r.rss_kb();
    let flap_time = started.elapsed();

    // The client stops reading past its hold time: the reflector's hold timer ends the
    // session; once the client runs again the session and the routes come back.
    c.signal("STOP");
    let down = eventually(Duration::from_secs(10), || {
        r.states()
            .iter()
            .any(|(n, s)| n == "c" && s != "established")
    });
    c.signal("CONT");
    assert!(down, "the stalled client's session stayed up\n{}", r.log());
    converged(&c, prefixes, "after the stall", &|| r.log());

    // The reflector itself is killed and started again.
    r.kill();
    r = Bgpd::start("soak-r", &reflector_config());
    converged(&c, prefixes, "after the reflector's restart", &|| r.log());

    eprintln!(
        "soak: {flaps} flaps of {prefixes} routes in {:.1} s; reflector RSS {warm_rss} kB \
         warm, {flapped_rss} kB after the flaps",
        flap_time.as_secs_f64()
    );
    assert!(
        flapped_rss <= warm_rss + warm_rss / 2 + 4096,
        "the reflector grew from {warm_rss} kB to {flapped_rss} kB over {flaps} flaps"
    );
}
