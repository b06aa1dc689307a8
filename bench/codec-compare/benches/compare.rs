//! bgp-wire against rustbgpd-wire, netgauze-bgp-pkt and bgpkit-parser on the same
//! full-table UPDATE stream (see `bgp-wire/benches/stream.rs` and `src/lib.rs` for what each
//! measured call does). `cargo bench` here; `cargo run --release --bin report` then prints
//! the table for docs/benchmarks-codec.md.
//!
//! `CODECS=bgp-wire,rustbgpd` limits the run to some codecs (names as in the bench ids).

// A bench harness: a failed setup must stop the run.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use codec_compare::{content, decode, encode, stream};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

fn wanted(name: &str) -> bool {
    std::env::var("CODECS")
        .map(|v| v.split(',').any(|c| name.starts_with(c)))
        .unwrap_or(true)
}

fn compare(c: &mut Criterion) {
    let s = stream::build();
    let ctx = stream::context();
    let bytes = Bytes::from(s.bytes.clone());
    let p = stream::PREFIXES;
    eprintln!(
        "stream: {} prefixes, {} UPDATEs, {} bytes",
        s.prefixes,
        s.updates,
        s.bytes.len()
    );
    // Every codec decodes every prefix of the same bytes.
    assert_eq!(decode::bgp_wire(BytesMut::from(&s.bytes[..]), &ctx), p);
    assert_eq!(decode::rustbgpd(bytes.clone()), p);
    assert_eq!(decode::rustbgpd_revised(bytes.clone()), p);
    assert_eq!(decode::netgauze(&s.bytes), p);
    assert_eq!(decode::bgpkit(bytes.clone()), p);

    // Each encoder, once, and whether it wrote the same bytes.
    let ours = content::bgp_wire(&s);
    let rb = content::rustbgpd(&s);
    let ng = content::netgauze(&s);
    let bk = content::bgpkit(&s);
    let mut out = BytesMut::with_capacity(s.bytes.len());
    assert_eq!(encode::bgp_wire(&ours, &mut out), s.updates);
    assert_eq!(&out[..], &s.bytes[..]);
    out.clear();
    assert_eq!(encode::rustbgpd(&rb, &mut out), s.updates);
    eprintln!("rustbgpd-wire encode identical: {}", out[..] == s.bytes[..]);
    let mut v = Vec::with_capacity(s.bytes.len());
    assert_eq!(encode::netgauze(&ng, &mut v), s.updates);
    eprintln!(
        "netgauze-bgp-pkt encode identical: {}",
        v[..] == s.bytes[..]
    );
    v.clear();
    assert_eq!(encode::bgpkit(&bk, &mut v), s.updates);
    eprintln!("bgpkit-parser encode identical: {}", v[..] == s.bytes[..]);

    let mut g = c.benchmark_group("decode");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(p as u64));
    if wanted("bgp-wire") {
        g.bench_function("bgp-wire", |b| {
            b.iter_batched(
                || BytesMut::from(&s.bytes[..]),
                |buf| decode::bgp_wire(buf, &ctx),
                BatchSize::PerIteration,
            )
        });
    }
    if wanted("rustbgpd-wire") {
        g.bench_function("rustbgpd-wire parse", |b| {
            b.iter(|| decode::rustbgpd(bytes.clone()))
        });
        g.bench_function("rustbgpd-wire parse_revised", |b| {
            b.iter(|| decode::rustbgpd_revised(bytes.clone()))
        });
    }
    if wanted("netgauze") {
        g.bench_function("netgauze-bgp-pkt", |b| {
            b.iter(|| decode::netgauze(&s.bytes))
        });
    }
    if wanted("bgpkit") {
        g.bench_function("bgpkit-parser", |b| {
            b.iter(|| decode::bgpkit(bytes.clone()))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("encode");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(p as u64));
    if wanted("bgp-wire") {
        g.bench_function("bgp-wire", |b| {
            b.iter(|| {
                out.clear();
                black_box(encode::bgp_wire(&ours, &mut out))
            })
        });
    }
    if wanted("rustbgpd-wire") {
        g.bench_function("rustbgpd-wire", |b| {
            b.iter(|| {
                out.clear();
                black_box(encode::rustbgpd(&rb, &mut out))
            })
        });
    }
    if wanted("netgauze") {
        g.bench_function("netgauze-bgp-pkt", |b| {
            b.iter(|| {
                v.clear();
                black_box(encode::netgauze(&ng, &mut v))
            })
        });
    }
    if wanted("bgpkit") {
        g.bench_function("bgpkit-parser", |b| {
            b.iter(|| {
                v.clear();
                black_box(encode::bgpkit(&bk, &mut v))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, compare);
criterion_main!(benches);
