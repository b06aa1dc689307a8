//! A misbehaving Calico node: a hand-made BGP speaker (`lab raw-peer`) joins the seed lab's
//! node network as a dynamic RR client and sends malformed messages.
//!
//! - An UPDATE with an invalid ORIGIN (7): RFC 7606 section 7.1 says treat-as-withdraw. The
//!   session stays up and the prefix it carried is withdrawn (also from the other nodes).
//! - A message with a broken marker: RFC 4271 section 6.1, NOTIFICATION Message Header Error /
//!   Connection Not Synchronized (1/1), and the session closes.
//!
//! Throughout, the well-behaved nodes and the VBR keep every route.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use lab_tests::daemons::find;
use lab_tests::seed::{Options, Seed};
use lab_tests::{skip, wait_until, Lab, Tool};

const BAD: &str = "192.0.2.50";
const GOOD_BLOCK: &str = "198.18.50.0/26";
const OTHER_BLOCK: &str = "198.18.51.0/26";

struct RawPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl RawPeer {
    fn start(ns: &str) -> RawPeer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_lab"), "raw-peer"])
            .args(["192.0.2.1", BAD, "64512", "ibgp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        RawPeer {
            child,
            stdin,
            stdout,
        }
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.stdout.read_line(&mut s).unwrap();
        s.trim().to_owned()
    }

    fn cmd(&mut self, c: &str) -> String {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        self.line()
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn malformed_updates_are_handled_per_rfc7606_and_others_keep_their_routes() {
    if skip("misbehave", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        nodes: 2,
        ..Options::default()
    };
    let mut seed = Seed::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let sw = seed.lab.ns("sw");
    let bad = seed.lab.netns("bad").unwrap();
    seed.lab
        .attach((&bad, "eth0", &[&format!("{BAD}/24")]), (&sw, "br0", "bad"))
        .unwrap();
    let mut raw = RawPeer::start(&bad);
    assert_eq!(raw.line(), "established");
    let rr = seed.rrs[0].bgpd.clone();
    let n1 = seed.nodes[0].bird.clone();
    let t = Duration::from_secs(15);

    // A well-formed block: reflected to the nodes.
    assert_eq!(raw.cmd(&format!("announce {GOOD_BLOCK}")), "sent");
    assert_eq!(raw.cmd(&format!("announce {OTHER_BLOCK}")), "sent");
    wait_until(t, "the raw peer's blocks at node 1", || {
        let r = n1.routes()?;
        Ok(!find(&r, GOOD_BLOCK).is_empty() && !find(&r, OTHER_BLOCK).is_empty())
    })
    .unwrap();

    // Invalid ORIGIN for one of them: treat-as-withdraw, session up.
    assert_eq!(raw.cmd(&format!("bad-origin {GOOD_BLOCK}")), "sent");
    let res = wait_until(t, "treat-as-withdraw at the RR and node 1", || {
        let gone_rr = find(&rr.rib(&[])?, GOOD_BLOCK).is_empty();
        let gone_n1 = find(&n1.routes()?, GOOD_BLOCK).is_empty();
        Ok(gone_rr && gone_n1)
    });
    if let Err(e) = res {
        panic!("{e}\n{}", rr.log(&seed.lab));
    }
    assert_eq!(raw.cmd("status"), "up", "bgpd reset the session");
    assert_eq!(rr.established(&[BAD]).unwrap(), 1);
    assert!(!find(&rr.rib(&[]).unwrap(), OTHER_BLOCK).is_empty());
    assert!(seed.unmet().unwrap().is_none(), "{:?}", seed.unmet());

    // A broken marker: NOTIFICATION 1/1 (Connection Not Synchronized), session closed.
    assert_eq!(raw.cmd("bad-marker"), "sent");
    let st = raw.cmd("status");
    assert_eq!(st, "notification 1 1", "{}", rr.log(&seed.lab));
    wait_until(t, "the raw peer's routes gone", || {
        Ok(find(&n1.routes()?, OTHER_BLOCK).is_empty() && rr.established(&[BAD])? == 0)
    })
    .unwrap();
    // Everyone else kept every route and session all along.
    assert!(seed.unmet().unwrap().is_none(), "{:?}", seed.unmet());
    let s = rr.sessions().unwrap();
    assert!(
        s.iter()
            .filter(|x| x.address != BAD)
            .all(|x| x.state == "established"),
        "{s:?}"
    );
}
