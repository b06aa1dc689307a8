//! Property test: after any sequence of batches (announcements and withdrawals), peer
//! clears, stale marks and sweeps from several peers, every prefix's best path and
//! multipath set equal a brute-force recomputation from a plain model of the Adj-RIBs-In,
//! and the stream of reported changes, replayed, gives the same Loc-RIB.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};

use bgp_wire::attr::{AsPath, AttrValue, Community, NextHop, Origin, PathAttributes};
use bgp_wire::{Family, Nlri};
use ipnet::IpNet;
use proptest::prelude::*;
use rib::{Change, Options, PeerId, PeerInfo, Rib, RouteRef, Selected};

const PREFIXES: &[&str] = &[
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.3.0/24",
    "192.0.2.0/24",
    "2001:db8::/32",
    "2001:db8:1::/48",
];
const PEERS: u8 = 4;

/// (prefix index, path id, announce with (attribute set, next hop) or withdraw)
type Route = (usize, u32, Option<(usize, u8)>);
/// (peer, path id)
type Key = (u8, u32);

#[derive(Debug, Clone)]
enum Op {
    Batch(u8, Vec<Route>),
    Clear(u8),
    Stale(u8, bool),
    Sweep(u8),
}

fn attr_set(i: usize) -> PathAttributes {
    // 16 sets varying local-pref, path length, origin, MED, neighbor AS, LLGR_STALE.
    let lp = [100, 200][i & 1];
    let len = 1 + (i >> 1) % 2;
    let nbr = [65001, 65002][(i >> 2) & 1];
    let mut path = vec![nbr];
    path.extend(std::iter::repeat_n(65100, len - 1));
    let mut v = vec![
        AttrValue::Origin([Origin::Igp, Origin::Incomplete][(i >> 3) & 1]),
        AttrValue::AsPath(AsPath::sequence(&path)),
        AttrValue::LocalPref(lp),
        AttrValue::Med([0, 10, 20][i % 3]),
    ];
    if i % 7 == 6 {
        v.push(AttrValue::Communities(vec![Community::LLGR_STALE]));
    }
    PathAttributes::from_values(v)
}

fn next_hop(i: u8) -> NextHop {
    NextHop::V4(Ipv4Addr::new(192, 0, 2, i))
}

/// Next hops 1..=4 resolve with cost 10 * i; 5 does not.
fn resolve(nh: &NextHop) -> Option<u32> {
    match nh {
        NextHop::V4(a) if a.octets()[3] < 5 => Some(10 * u32::from(a.octets()[3])),
        _ => None,
    }
}

fn op() -> impl Strategy<Value = Op> {
    let route = (
        0..PREFIXES.len(),
        0u32..2,
        prop::option::weighted(0.75, (0usize..16, 1u8..6)),
    );
    prop_oneof![
        8 => (0..PEERS, prop::collection::vec(route, 1..8)).prop_map(|(p, r)| Op::Batch(p, r)),
        1 => (0..PEERS).prop_map(Op::Clear),
        1 => (0..PEERS, any::<bool>()).prop_map(|(p, l)| Op::Stale(p, l)),
        1 => (0..PEERS).prop_map(Op::Sweep),
    ]
}

/// A model path: attribute set index, next hop index, stale, llgr-stale.
type ModelPath = (usize, u8, bool, bool);
type Model = BTreeMap<(usize, u8, u32), ModelPath>; // (prefix, peer, path id)

fn info(p: u8) -> PeerInfo {
    let addr = Ipv4Addr::new(10, 9, 9, 10 - p);
    let mut i = PeerInfo::ibgp(IpAddr::V4(addr), Ipv4Addr::new(1, 1, 1, 1 + p % 2), 65000);
    i.ebgp = p == 3;
    i
}

/// Brute force: RFC 4271 9.1.2.2 as written, nested loops over the candidates.
fn brute_best(paths: &[(u8, u32, ModelPath)], opts: &Options) -> (Option<Key>, Vec<Key>) {
    struct C {
        key: (u8, u32),
        cost: u32,
        llgr_stale: bool,
        stale: bool,
        lp: u32,
        len: usize,
        origin: Origin,
        med: u32,
        nbr: u32,
        ebgp: bool,
        rid: u32,
        addr: IpAddr,
    }
    let mut c: Vec<C> = paths
        .iter()
        .filter_map(|&(peer, id, (a, nh, stale, llgr))| {
            let set = attr_set(a);
            let cost = resolve(&next_hop(nh))?;
            let i = info(peer);
            Some(C {
                key: (peer, id),
                cost,
                stale,
                llgr_stale: llgr
                    || set
                        .communities()
                        .is_some_and(|c| c.contains(&Community::LLGR_STALE)),
                lp: *set.local_pref().unwrap(),
                len: set.as_path().unwrap().hops(),
                origin: *set.origin().unwrap(),
                med: *set.med().unwrap(),
                nbr: set.as_path().unwrap().neighbor_as().unwrap(),
                ebgp: i.ebgp,
                rid: u32::from(i.bgp_id),
                addr: i.address,
            })
        })
        .collect();
    fn keep_min<K: Ord + Copy>(c: &mut Vec<C>, k: impl Fn(&C) -> K) {
        if let Some(m) = c.iter().map(&k).min() {
            c.retain(|x| k(x) == m);
        }
    }
    keep_min(&mut c, |x| x.llgr_stale);
    keep_min(&mut c, |x| x.stale);
    keep_min(&mut c, |x| std::cmp::Reverse(x.lp));
    keep_min(&mut c, |x| x.len);
    keep_min(&mut c, |x| x.origin);
    let meds: Vec<(u32, u32)> = c.iter().map(|x| (x.nbr, x.med)).collect();
    c.retain(|m| {
        !meds
            .iter()
            .any(|&(nbr, med)| (opts.always_compare_med || nbr == m.nbr) && med < m.med)
    });
    keep_min(&mut c, |x| !x.ebgp);
    keep_min(&mut c, |x| x.cost);
    let multi: Vec<(u8, u32, u32)> = c.iter().map(|x| (x.key.0, x.key.1, x.nbr)).collect();
    keep_min(&mut c, |x| x.rid);
    keep_min(&mut c, |x| (x.addr, x.key.0));
    keep_min(&mut c, |x| x.key.1);
    let best = c.first().map(|x| x.key);
    let mut mp: Vec<(u8, u32)> = match (best, c.first()) {
        (Some(b), Some(bc)) => multi
            .iter()
            .filter(|m| (m.0, m.1) != b && (opts.multipath_relax || m.2 == bc.nbr))
            .map(|m| (m.0, m.1))
            .collect(),
        _ => Vec::new(),
    };
    mp.sort_unstable();
    (best, mp)
}

fn key(r: &RouteRef, peers: &[PeerId]) -> (u8, u32) {
    let p = peers.iter().position(|&x| x == r.peer).unwrap();
    (u8::try_from(p).unwrap(), r.path_id)
}

fn run(ops: Vec<Op>, opts: Options) -> Result<(), TestCaseError> {
    let mut rib = Rib::new(opts);
    let peers: Vec<PeerId> = (0..PEERS).map(|p| rib.add_peer(info(p)).unwrap()).collect();
    let mut model = Model::new();
    let mut mirror: HashMap<IpNet, Selected> = HashMap::new();
    for op in ops {
        let changes = match &op {
            Op::Batch(p, routes) => {
                let mut b = rib.batch(peers[usize::from(*p)]);
                for &(pi, id, r) in routes {
                    let n = Nlri::with_path_id(PREFIXES[pi].parse().unwrap(), id);
                    match r {
                        Some((a, nh)) => {
                            b.announce(&attr_set(a), next_hop(nh), &[n]).unwrap();
                            model.insert((pi, *p, id), (a, nh, false, false));
                        }
                        None => {
                            b.withdraw(&[n]);
                            model.remove(&(pi, *p, id));
                        }
                    }
                }
                b.commit(&resolve)
            }
            Op::Clear(p) => {
                model.retain(|k, _| k.1 != *p);
                rib.clear_peer(peers[usize::from(*p)], None, &resolve)
            }
            Op::Stale(p, llgr) => {
                model.retain(|k, v| {
                    k.1 != *p
                        || !(*llgr
                            && attr_set(v.0)
                                .communities()
                                .is_some_and(|c| c.contains(&Community::NO_LLGR)))
                });
                for (k, v) in model.iter_mut() {
                    if k.1 == *p {
                        v.2 = true;
                        v.3 |= *llgr;
                    }
                }
                let mut changes = Vec::<Change>::new();
                rib.mark_stale_into(peers[usize::from(*p)], None, *llgr, &resolve, &mut changes);
                changes
            }
            Op::Sweep(p) => {
                model.retain(|k, v| k.1 != *p || !v.2);
                let mut changes = Vec::<Change>::new();
                rib.sweep_stale_into(peers[usize::from(*p)], None, &resolve, &mut changes);
                changes
            }
        };
        for c in changes {
            let before = mirror.remove(&c.prefix).unwrap_or_default();
            prop_assert_eq!(
                &before,
                &c.old,
                "reported old differs from last reported new"
            );
            prop_assert_ne!(&c.old, &c.new, "a change that is none");
            if c.new != Selected::default() {
                mirror.insert(c.prefix, c.new);
            }
        }
        for (pi, s) in PREFIXES.iter().enumerate() {
            let prefix: IpNet = s.parse().unwrap();
            let paths: Vec<(u8, u32, ModelPath)> = model
                .range((pi, 0, 0)..=(pi, u8::MAX, u32::MAX))
                .map(|(k, v)| (k.1, k.2, *v))
                .collect();
            let (best, mp) = brute_best(&paths, &opts);
            let got = rib.get(prefix).map(|d| d.selected()).unwrap_or_default();
            prop_assert_eq!(
                got.best.map(|r| key(&r, &peers)),
                best,
                "best of {} after {:?}",
                s,
                op
            );
            let got_mp: Vec<(u8, u32)> = got.multipath.iter().map(|r| key(r, &peers)).collect();
            let mut got_mp_sorted = got_mp.clone();
            got_mp_sorted.sort_unstable();
            prop_assert_eq!(got_mp_sorted, mp, "multipath of {}", s);
            prop_assert_eq!(rib.get(prefix).map_or(0, |d| d.paths.len()), paths.len());
            let mirrored = mirror.get(&prefix).cloned().unwrap_or_default();
            prop_assert_eq!(mirrored, got, "replayed changes of {}", s);
        }
        let v4 = model.keys().filter(|k| k.0 < 5).count() as u64;
        prop_assert_eq!(rib.path_count(Family::Ipv4Unicast), v4);
        prop_assert_eq!(rib.path_count(Family::Ipv6Unicast), model.len() as u64 - v4);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn selection_matches_brute_force(ops in prop::collection::vec(op(), 1..40)) {
        run(ops, Options { max_paths: 16, ..Options::default() })?;
    }

    #[test]
    fn selection_matches_brute_force_always_compare_med_relaxed(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        run(ops, Options { always_compare_med: true, multipath_relax: true, max_paths: 16 })?;
    }
}
