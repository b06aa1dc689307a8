//! Table-driven tests of the decision process: one row per tie-breaker, each starting from
//! two paths equal in every step and changing only what that step looks at (plus what must
//! differ anyway, like peer identity), proving the step decides when all earlier ones tie.

use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::attr::Origin;
use rib::decision::{compare, Candidate, Decision};
use rib::{Options, PeerId, Step};

fn base(peer: u16) -> Candidate {
    Candidate {
        igp_cost: Some(10),
        llgr_stale: false,
        stale: false,
        local_pref: 100,
        as_path_len: 2,
        origin: Origin::Igp,
        med: 50,
        neighbor_as: 65001,
        ebgp: false,
        router_id: 0x0a00_0001,
        cluster_list_len: 0,
        peer_address: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        peer: PeerId(peer),
        path_id: 0,
    }
}

type Tweak = fn(&mut Candidate);

/// (step, make the winner better at that step, make the loser worse at that step)
const ROWS: &[(Step, Tweak, Tweak)] = &[
    (Step::Unreachable, |_| {}, |c| c.igp_cost = None),
    (Step::LlgrStale, |_| {}, |c| c.llgr_stale = true),
    (Step::Stale, |_| {}, |c| c.stale = true),
    (Step::LocalPref, |c| c.local_pref = 200, |_| {}),
    (Step::AsPathLength, |_| {}, |c| c.as_path_len = 3),
    (Step::Origin, |_| {}, |c| c.origin = Origin::Incomplete),
    (Step::Med, |c| c.med = 10, |_| {}),
    (Step::EbgpOverIbgp, |c| c.ebgp = true, |_| {}),
    (Step::IgpCost, |c| c.igp_cost = Some(5), |_| {}),
    (Step::RouterId, |_| {}, |c| c.router_id = 0x0a00_0002),
    (Step::ClusterListLength, |_| {}, |c| c.cluster_list_len = 1),
    (
        Step::PeerAddress,
        |_| {},
        |c| c.peer_address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    ),
    (Step::PathId, |_| {}, |c| c.path_id = 7),
];

#[test]
fn each_step_decides_when_earlier_steps_tie() {
    let opts = Options::default();
    for &(step, better, worse) in ROWS {
        let mut a = base(1);
        let mut b = base(1);
        // Same peer for every row: only PeerAddress needs the addresses to differ, and a
        // different PeerId would otherwise decide that row's tie.
        better(&mut a);
        worse(&mut b);
        assert_eq!(compare(&a, &b, &opts), Ok(step), "{step:?}: a wins");
        assert_eq!(
            compare(&b, &a, &opts),
            Err(step),
            "{step:?}: order must not matter"
        );
    }
}

#[test]
fn steps_are_applied_in_order() {
    // A path better at a later step but worse at an earlier one loses at the earlier.
    let opts = Options::default();
    for (i, &(early, better_early, worse_early)) in ROWS.iter().enumerate() {
        for &(late, better_late, _) in &ROWS[i + 1..] {
            if (early, late) == (Step::Unreachable, Step::IgpCost) {
                continue; // both set the IGP cost
            }
            let mut a = base(1);
            let mut b = base(1);
            better_early(&mut a);
            worse_early(&mut b);
            better_late(&mut b);
            assert_eq!(
                compare(&a, &b, &opts),
                Ok(early),
                "{early:?} before {late:?}"
            );
        }
    }
}

#[test]
fn med_only_between_same_neighbor_as_unless_always_compare() {
    let mut a = base(1);
    let mut b = base(1);
    a.med = 100;
    b.med = 10;
    b.neighbor_as = 65002;
    b.router_id = 0x0a00_0009; // would lose on router id if MED is skipped
    assert_eq!(compare(&a, &b, &Options::default()), Ok(Step::RouterId));
    let always = Options {
        always_compare_med: true,
        ..Options::default()
    };
    assert_eq!(compare(&a, &b, &always), Err(Step::Med));
}

#[test]
fn med_cycle_is_resolved_by_the_set_not_the_order() {
    // The classic non-transitive triple: A beats B on MED (same AS), B beats C and C beats
    // A on IGP cost (different ASes). Pairwise order would depend on arrival; the set
    // procedure removes B first (MED), then C wins on IGP cost, for every order.
    let mut a = base(1);
    a.neighbor_as = 1;
    a.med = 0;
    a.igp_cost = Some(30);
    let mut b = base(2);
    b.neighbor_as = 1;
    b.med = 10;
    b.igp_cost = Some(10);
    let mut c = base(3);
    c.neighbor_as = 2;
    c.igp_cost = Some(20);
    let opts = Options::default();
    let cands = [a, b, c];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for order in orders {
        let list: Vec<Candidate> = order.iter().map(|&i| cands[i]).collect();
        let mut d = Decision::new();
        d.run(&list, &opts);
        let best = d.best().map(|i| list[i].peer);
        assert_eq!(best, Some(PeerId(3)), "order {order:?}");
        let lost_b = order.iter().position(|&i| i == 1).and_then(|i| d.lost(i));
        assert_eq!(lost_b, Some(Step::Med));
    }
}

#[test]
fn multipath_is_equal_through_igp_cost_and_same_neighbor_as() {
    let opts = Options {
        max_paths: 8,
        ..Options::default()
    };
    let mut a = base(1);
    let mut b = base(2);
    b.router_id = 0x0a00_0002;
    b.peer_address = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let mut c = base(3);
    c.igp_cost = Some(11); // worse IGP cost: not multipath
    let mut d = base(4);
    d.neighbor_as = 65002; // other AS: multipath only when relaxed
    d.router_id = 0x0a00_0004;
    a.path_id = 0;
    let cands = [a, b, c, d];
    let mut dec = Decision::new();
    dec.run(&cands, &opts);
    assert_eq!(dec.best(), Some(0));
    assert_eq!(dec.multipath(), &[0, 1]);
    let relaxed = Options {
        multipath_relax: true,
        ..opts
    };
    dec.run(&cands, &relaxed);
    assert_eq!(dec.multipath(), &[0, 1, 3]);
    let narrow = Options {
        max_paths: 2,
        ..relaxed
    };
    dec.run(&cands, &narrow);
    assert_eq!(dec.multipath(), &[0, 1]);
    dec.run(&cands, &Options::default());
    assert_eq!(dec.multipath(), &[0]);
}

#[test]
fn nothing_selected_when_all_unreachable() {
    let mut a = base(1);
    a.igp_cost = None;
    let mut d = Decision::new();
    d.run(&[a], &Options::default());
    assert_eq!(d.best(), None);
    assert!(d.multipath().is_empty());
    assert_eq!(d.lost(0), Some(Step::Unreachable));
}
