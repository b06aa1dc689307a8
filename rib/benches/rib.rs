//! Criterion benchmarks on a synthetic full table (`synth/mod.rs`): load from one peer, load
//! from ten peers, withdraw a whole peer, re-run the decision everywhere.
//!
//! ```text
//! cargo bench -p rib --bench rib
//! ```
//!
//! Each iteration is a whole table, so criterion's time divided by the routes gives the
//! time per route; `examples/memory.rs` prints both per route with memory.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

mod synth;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp_wire::attr::NextHop;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rib::{AllReachable, Options, PeerId, PeerInfo, Rib};

const BATCH: usize = 256;

fn load(rib: &mut Rib, peer: PeerId, updates: &[synth::Update], nh: NextHop) {
    for chunk in updates.chunks(BATCH) {
        let mut b = rib.batch(peer);
        for u in chunk {
            b.announce(&u.attrs, nh, &u.nlri).unwrap();
        }
        black_box(b.commit(&AllReachable));
    }
}

fn rib_with(peers: u8) -> (Rib, Vec<PeerId>) {
    let mut rib = Rib::new(Options::default());
    let ids: Vec<PeerId> = (1..=peers)
        .map(|i| {
            let a = Ipv4Addr::new(10, 0, 0, i);
            rib.add_peer(PeerInfo::ibgp(IpAddr::V4(a), a, 65000))
                .unwrap()
        })
        .collect();
    (rib, ids)
}

fn nh(i: usize) -> NextHop {
    NextHop::V4(Ipv4Addr::new(192, 0, 2, i as u8))
}

fn benches(c: &mut Criterion) {
    let full = synth::table(42, 1_000_000, 300_000);
    let small = synth::table(7, 200_000, 60_000);

    let mut g = c.benchmark_group("rib");
    g.sample_size(10).warm_up_time(Duration::from_millis(100));

    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("load_1M_prefixes_1_peer", |b| {
        b.iter_batched(
            || rib_with(1),
            |(mut rib, ids)| {
                load(&mut rib, ids[0], &full, nh(1));
                rib
            },
            BatchSize::PerIteration,
        )
    });

    g.throughput(Throughput::Elements(2_000_000));
    g.bench_function("load_200k_prefixes_10_peers", |b| {
        b.iter_batched(
            || rib_with(10),
            |(mut rib, ids)| {
                for (i, &p) in ids.iter().enumerate() {
                    load(&mut rib, p, &small, nh(i + 1));
                }
                rib
            },
            BatchSize::PerIteration,
        )
    });

    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("withdraw_best_peer_1M_of_2_peers", |b| {
        b.iter_batched(
            || {
                let (mut rib, ids) = rib_with(2);
                load(&mut rib, ids[0], &full, nh(1));
                load(&mut rib, ids[1], &full, nh(2));
                (rib, ids)
            },
            |(mut rib, ids)| {
                black_box(rib.clear_peer(ids[0], None, &AllReachable));
                rib
            },
            BatchSize::PerIteration,
        )
    });

    let (mut rib, ids) = rib_with(2);
    load(&mut rib, ids[0], &full, nh(1));
    load(&mut rib, ids[1], &full, nh(2));
    g.bench_function("rerun_best_path_1M_prefixes_2_paths", |b| {
        b.iter(|| black_box(rib.recompute(&AllReachable)))
    });
    g.finish();
}

criterion_group!(rib_benches, benches);
criterion_main!(rib_benches);
