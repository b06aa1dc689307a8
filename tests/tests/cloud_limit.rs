//! The cloud gateway's route limit (an Alibaba VBR accepts 110 routes per peer and silently
//! drops the rest; FRR here is stricter: `maximum-prefix 110` tears the session down). With
//! the /26 blocks deliberately let through to the cloud (123 candidate routes: the aggregate,
//! node 1's 121 blocks, node 2's block), `max_prefixes_out = 100` must hold what bgpd sends
//! to exactly 100, so the VBR session stays up and FRR holds 100 routes from us.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use lab_tests::seed::{Options, Seed, VPC_ROUTES};
use lab_tests::{skip, wait_until, Lab, Tool};

#[test]
fn max_prefixes_out_keeps_the_vbr_session_up() {
    if skip("cloud_limit", &[Tool::Bird16, Tool::Frr]) {
        return;
    }
    let opts = Options {
        nodes: 2,
        extra_blocks: 120,
        leak_blocks: true,
        ..Options::default()
    };
    let mut seed = Seed::up(Lab::new().unwrap(), opts).unwrap();
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        panic!("{e}\n{}", seed.lab.logs());
    }
    let rr = seed.rrs[0].bgpd.clone();
    let vbr = seed.vbr.clone();
    let from_us = || -> std::io::Result<usize> {
        Ok(vbr
            .routes("ipv4")?
            .iter()
            .filter(|r| !VPC_ROUTES.contains(&r.prefix.as_str()))
            .count())
    };
    let res = wait_until(
        Duration::from_secs(30),
        "node 1's blocks at the edge",
        || Ok(rr.rib(&["198.18.0.0/16", "--longer"])?.len() >= 123),
    );
    if let Err(e) = res {
        panic!("{e}\n{}", seed.lab.logs());
    }
    wait_until(Duration::from_secs(30), "100 routes at the VBR", || {
        Ok(from_us()? == 100)
    })
    .unwrap();
    // Stays so: no more arrive, and FRR's limit never trips.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(from_us().unwrap(), 100);
    assert!(vbr.established("203.0.113.1").unwrap());
    let v = rr.ctl(&["show", "neighbor", "vbr"]).unwrap();
    let v = if v.is_array() { v[0].clone() } else { v };
    assert_eq!(v["max_prefixes_out"]["limit"], 100, "{v}");
    assert_eq!(v["max_prefixes_out"]["advertised"], 100, "{v}");
    assert!(
        v["max_prefixes_out"]["suppressed"].as_u64().unwrap() >= 23,
        "{v}"
    );
    assert_eq!(v["flaps"], 0, "{v}");
}
