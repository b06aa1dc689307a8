//! Measures bytes per stored path and load time with a counting global allocator.
//!
//! ```text
//! cargo run --release -p rib --example memory [PREFIXES] [SETS]
//! ```
//!
//! Loads a synthetic full table (default 1,000,000 IPv4 prefixes over 300,000 attribute
//! sets, see `benches/synth/mod.rs`) from one peer, then from nine more: first as iBGP peers
//! reflecting the same routes (same attributes, each its own next hop), then, in a fresh
//! RIB, as eBGP peers that each prepend their own AS (no set shared between peers). After
//! the first peer, every prefix is also advertised to one export group to measure an
//! Adj-RIB-Out (the group is removed again before the further peers).
//! Bytes are what the RIB asked the allocator for (live bytes after minus before), so
//! allocator headers and fragmentation are not included.
#![allow(unsafe_code)] // the counting allocator below, and nothing else
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation
)]

#[path = "../benches/synth/mod.rs"]
#[allow(dead_code)]
mod synth;

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bgp_wire::attr::{NextHop, PathAttributes};
use bgp_wire::Family;
use rib::{AllReachable, Options, PeerId, PeerInfo, Rib};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Updates per batch: about what a few UPDATE messages carry.
const BATCH: usize = 256;

fn load(
    rib: &mut Rib,
    peer: PeerId,
    updates: &[synth::Update],
    attrs: Option<&[PathAttributes]>,
    nh: NextHop,
) -> usize {
    let mut changes = 0;
    for (chunk_no, chunk) in updates.chunks(BATCH).enumerate() {
        let mut b = rib.batch(peer);
        for (i, u) in chunk.iter().enumerate() {
            let a = attrs.map_or(&u.attrs, |list| &list[chunk_no * BATCH + i]);
            b.announce(a, nh, &u.nlri).unwrap();
        }
        changes += b.commit(&AllReachable).len();
    }
    changes
}

fn peer_info(i: u8, ebgp: bool) -> PeerInfo {
    let addr = Ipv4Addr::new(10, 0, 0, i);
    if ebgp {
        PeerInfo::ebgp(IpAddr::V4(addr), addr, 64_600 + u32::from(i))
    } else {
        PeerInfo::ibgp(IpAddr::V4(addr), addr, 65_000)
    }
}

fn nh(i: u8) -> NextHop {
    NextHop::V4(Ipv4Addr::new(192, 0, 2, i))
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let prefixes = args.first().copied().unwrap_or(1_000_000);
    let sets = args.get(1).copied().unwrap_or(prefixes * 3 / 10);
    let t = Instant::now();
    let updates = synth::table(42, prefixes, sets);
    let ebgp_attrs: Vec<Vec<PathAttributes>> = (1..=10u32)
        .map(|i| synth::prepend(&updates, 64_600 + i))
        .collect();
    println!(
        "synthetic table: {prefixes} prefixes, {} attribute sets, generated in {:.2?}",
        updates.len(),
        t.elapsed()
    );

    // --- iBGP: ten peers with the same attributes, each its own next hop.
    let base = live();
    let mut rib = Rib::new(Options::default());
    let peers: Vec<PeerId> = (1..=10)
        .map(|i| rib.add_peer(peer_info(i, false)).unwrap())
        .collect();
    let t = Instant::now();
    load(&mut rib, peers[0], &updates, None, nh(1));
    let load1 = t.elapsed();
    let one = live() - base;
    let paths1 = rib.path_count(Family::Ipv4Unicast) as usize;
    println!(
        "\n1 peer: {paths1} paths, {} attribute sets interned",
        rib.attrs().len()
    );
    println!(
        "  memory {:.1} MB = {:.1} bytes/path (all-in: trie, paths, attributes, index)",
        one as f64 / 1e6,
        one as f64 / paths1 as f64
    );
    println!(
        "  of which tries {:.1} bytes/prefix",
        rib.trie_bytes() as f64 / paths1 as f64
    );
    println!(
        "  load {:.2?} = {:.0} ns/route",
        load1,
        load1.as_nanos() as f64 / paths1 as f64
    );

    // One export group told every prefix of the table, attributes unchanged.
    let sent: Vec<_> = rib
        .iter(Family::Ipv4Unicast)
        .filter_map(|d| Some((d.prefix, *d.best()?)))
        .collect();
    let before = live();
    let g = rib.add_group();
    let t = Instant::now();
    for (prefix, p) in &sent {
        rib.advertise_interned(g, *prefix, 0, p.attrs(), p.next_hop());
    }
    let adv = t.elapsed();
    let n = sent.len();
    let all = live() - before;
    // A group told a scattered few (one prefix in 1000): pays per chunk of ids touched.
    let before = live();
    let few = rib.add_group();
    for (prefix, p) in sent.iter().step_by(1000) {
        rib.advertise_interned(few, *prefix, 0, p.attrs(), p.next_hop());
    }
    let some = live() - before;
    drop(sent);
    println!(
        "  Adj-RIB-Out of one group told all {n}: {:.1} bytes/prefix, {:.0} ns/prefix",
        all as f64 / n as f64,
        adv.as_nanos() as f64 / n as f64
    );
    println!(
        "  Adj-RIB-Out of one group told every 1000th: {:.0} bytes/prefix",
        some as f64 / n.div_ceil(1000) as f64
    );
    rib.remove_group(g);
    rib.remove_group(few);

    let t = Instant::now();
    for (i, &p) in peers.iter().enumerate().skip(1) {
        load(&mut rib, p, &updates, None, nh(i as u8 + 1));
    }
    let load9 = t.elapsed();
    let ten = live() - base;
    let paths10 = rib.path_count(Family::Ipv4Unicast) as usize;
    println!(
        "\n10 iBGP peers, same attributes: {paths10} paths, {} attribute sets",
        rib.attrs().len()
    );
    println!(
        "  memory {:.1} MB = {:.1} bytes/path overall, {:.1} bytes per further path",
        ten as f64 / 1e6,
        ten as f64 / paths10 as f64,
        (ten - one) as f64 / (paths10 - paths1) as f64
    );
    println!(
        "  load of peers 2-10 {:.2?} = {:.0} ns/route",
        load9,
        load9.as_nanos() as f64 / (paths10 - paths1) as f64
    );

    let t = Instant::now();
    let ch = rib.recompute(&AllReachable);
    let rec = t.elapsed();
    println!(
        "  best path re-run over {} prefixes: {:.2?} = {:.0} ns/prefix ({} changes)",
        rib.prefix_count(Family::Ipv4Unicast),
        rec,
        rec.as_nanos() as f64 / prefixes as f64,
        ch.len()
    );
    let t = Instant::now();
    let ch = rib.clear_peer(peers[0], None, &AllReachable);
    let wd = t.elapsed();
    println!(
        "  withdraw peer 1 (the best everywhere): {:.2?} = {:.0} ns/route, {} changes",
        wd,
        wd.as_nanos() as f64 / paths1 as f64,
        ch.len()
    );
    drop(ch);
    for &p in &peers[1..] {
        rib.clear_peer(p, None, &AllReachable);
    }
    rib.recompute(&AllReachable);
    println!(
        "  after withdrawing all: {} bytes still held (trie skeleton, slabs)",
        live() - base
    );
    drop(rib);

    // --- eBGP: ten peers, each prepends its AS: no sharing between peers.
    let base = live();
    let mut rib = Rib::new(Options::default());
    let peers: Vec<PeerId> = (1..=10)
        .map(|i| rib.add_peer(peer_info(i, true)).unwrap())
        .collect();
    load(&mut rib, peers[0], &updates, Some(&ebgp_attrs[0]), nh(1));
    let one = live() - base;
    let t = Instant::now();
    for (i, &p) in peers.iter().enumerate().skip(1) {
        load(&mut rib, p, &updates, Some(&ebgp_attrs[i]), nh(i as u8 + 1));
    }
    let load9 = t.elapsed();
    let ten = live() - base;
    let paths10 = rib.path_count(Family::Ipv4Unicast) as usize;
    println!(
        "\n10 eBGP peers, own AS prepended: {paths10} paths, {} attribute sets",
        rib.attrs().len()
    );
    println!(
        "  memory {:.1} MB = {:.1} bytes/path overall, {:.1} bytes per further path",
        ten as f64 / 1e6,
        ten as f64 / paths10 as f64,
        (ten - one) as f64 / (paths10 - paths1) as f64
    );
    println!(
        "  load of peers 2-10 {:.2?} = {:.0} ns/route",
        load9,
        load9.as_nanos() as f64 / (paths10 - paths1) as f64
    );
}
