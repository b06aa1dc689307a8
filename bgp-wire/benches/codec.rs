//! Decoding and encoding a full-table-sized UPDATE stream (1,000,000 IPv4 prefixes in
//! ~300,000 UPDATEs; see `stream.rs`). The same stream, side by side with the other Rust
//! BGP codecs, is in `bench/codec-compare`; results in `docs/benchmarks-codec.md`.
//!
//! `cargo bench -p bgp-wire --bench codec`

// A bench harness: a failed setup must stop the run.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod stream;

use std::hint::black_box;
use std::time::Duration;

use bgp_wire::attr::NextHop;
use bgp_wire::{decode, Framer, Message, UpdatePacker};
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Framing and full decode of every message; returns the number of prefixes.
fn decode_stream(mut buf: BytesMut, ctx: &bgp_wire::Context) -> usize {
    let framer = Framer::new();
    let mut prefixes = 0;
    while let Ok(Some(msg)) = framer.next_message(&mut buf) {
        if let Ok(Message::Update(u)) = decode(&msg, ctx) {
            prefixes += u.nlri.len();
            black_box(&u);
        }
    }
    prefixes
}

fn codec(c: &mut Criterion) {
    let s = stream::build();
    let ctx = stream::context();
    assert_eq!(
        decode_stream(BytesMut::from(&s.bytes[..]), &ctx),
        stream::PREFIXES
    );
    eprintln!(
        "stream: {} prefixes, {} UPDATEs, {} bytes",
        s.prefixes,
        s.updates,
        s.bytes.len()
    );

    let mut g = c.benchmark_group("bgp-wire");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(s.prefixes as u64));
    g.bench_function("decode", |b| {
        b.iter_batched(
            || BytesMut::from(&s.bytes[..]),
            |buf| decode_stream(buf, &ctx),
            BatchSize::PerIteration,
        )
    });
    let packer = UpdatePacker::new(ctx);
    let mut out = BytesMut::with_capacity(s.bytes.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for set in &s.sets {
                packer
                    .announce(
                        &set.attributes,
                        NextHop::V4(stream::NEXT_HOP),
                        &set.nlri,
                        &mut out,
                    )
                    .unwrap();
            }
            black_box(out.len())
        })
    });
    g.finish();
    // The encoder wrote the stream's own bytes (when its bench ran).
    assert!(out.is_empty() || out[..] == s.bytes[..]);
}

criterion_group!(benches, codec);
criterion_main!(benches);
