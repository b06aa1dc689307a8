//! `bgp-load`: the benchmark harness's BGP load tool.
//!
//! ```text
//! bgp-load inject  --peer 198.18.0.1:179 --local 198.18.0.2 --prefixes 1000000
//! bgp-load collect --peer 198.18.0.1:179 --local 198.18.1.1 --count 10
//! bgp-load collect --peer 198.18.0.1:179 --local 198.19.0.1 --count 500 --blocks 4
//! ```
//!
//! Both modes print one JSON object per line on stdout (`{"ev":"...","t_us":...}`, times in
//! microseconds since the Unix epoch) and take commands, one per line, on stdin; end of
//! input ends the process. See bench/README.md for the commands and events.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bgp_load::count::Held;
use bgp_load::now_us;
use bgp_load::table::{blocks, Table};
use bgp_wire::attr::{AsPath, AttrValue, NextHop, Origin, PathAttributes};
use bgp_wire::capability::{code, Capability};
use bgp_wire::notification::{cease, Notification};
use bgp_wire::{
    decode, encode, encode_to_bytes, Context, Family, Framer, Message, Nlri, Open, Update,
    UpdatePacker,
};
use bytes::{Bytes, BytesMut};
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};

/// BGP load generator and route collector for the benchmark harness.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Open one session and send a generated table. Commands on stdin: `announce` (the
    /// whole table, then End-of-RIB), `withdraw` / `reannounce` (the churn set), `down`
    /// (Cease NOTIFICATION, close), `up` (reconnect), `quit`.
    Inject(InjectArgs),
    /// Open `count` sessions from consecutive local addresses and follow what each holds.
    /// Commands: `expect N` (report when every session holds N prefixes), `announce` (with
    /// --blocks: every session sends its own blocks), `status`, `quit`.
    Collect(CollectArgs),
}

#[derive(Debug, Args)]
struct SessionArgs {
    /// Device under test, ADDRESS:PORT.
    #[arg(long)]
    peer: SocketAddr,
    /// Local address of the (first) session; also its BGP identifier and next hop.
    #[arg(long)]
    local: Ipv4Addr,
    /// Our AS (4-octet capable; the device's AS for iBGP).
    #[arg(long, default_value_t = 64512)]
    asn: u32,
    /// Hold time we propose, seconds.
    #[arg(long, default_value_t = 90)]
    hold: u16,
    /// Give up connecting after this many seconds.
    #[arg(long, default_value_t = 60)]
    connect_timeout: u64,
}

#[derive(Debug, Args)]
struct InjectArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Number of distinct IPv4 prefixes.
    #[arg(long, default_value_t = 1_000_000)]
    prefixes: usize,
    /// Distinct attribute sets (default: prefixes / 3.3).
    #[arg(long)]
    attr_sets: Option<usize>,
    /// Seed of the table.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Prefixes withdrawn and re-announced by `withdraw` / `reannounce`.
    #[arg(long, default_value_t = 100_000)]
    churn: usize,
    /// Announce as soon as the session is up (no `announce` command needed).
    #[arg(long)]
    auto: bool,
    /// Write the generated prefixes to this file, one per line, and exit.
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct CollectArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Number of sessions (local addresses counted up from --local, skipping .0 and .255).
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Each session announces this many blocks of its own on `announce` (Calico nodes).
    #[arg(long, default_value_t = 0)]
    blocks: usize,
    /// First block of the first session.
    #[arg(long, default_value = "10.64.0.0")]
    block_base: Ipv4Addr,
    /// Block length.
    #[arg(long, default_value_t = 26)]
    block_len: u8,
    /// Sessions in OPEN exchange at the same time.
    #[arg(long, default_value_t = 64)]
    parallel: usize,
}

/// Prints one event line: `{"ev":NAME,"t_us":NOW,...}`; `fields` is pre-formatted JSON.
fn event(name: &str, fields: &str) {
    let sep = if fields.is_empty() { "" } else { "," };
    println!("{{\"ev\":\"{name}\",\"t_us\":{}{sep}{fields}}}", now_us());
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lines of stdin, read on a thread of their own; the channel closes at end of input.
fn stdin_commands() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line.trim().to_string()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Consecutive addresses from `base`, skipping those ending in .0 and .255.
fn addresses(base: Ipv4Addr, count: usize) -> Vec<Ipv4Addr> {
    let mut out = Vec::with_capacity(count);
    let mut a = u32::from(base);
    while out.len() < count {
        let last = a & 0xff;
        if last != 0 && last != 255 {
            out.push(Ipv4Addr::from(a));
        }
        match a.checked_add(1) {
            Some(n) => a = n,
            None => break,
        }
    }
    out
}

/// The receiving side of a session: cuts and decodes messages.
struct Reader {
    half: OwnedReadHalf,
    buf: BytesMut,
    framer: Framer,
    ctx: Context,
}

impl Reader {
    async fn next(&mut self) -> Result<Message, String> {
        loop {
            match self.framer.next_message(&mut self.buf) {
                Ok(Some(m)) => return decode(&m, &self.ctx).map_err(|e| format!("decode: {e}")),
                Ok(None) => {}
                Err(e) => return Err(format!("framing: {e}")),
            }
            self.buf.reserve(256 * 1024);
            match self.half.read_buf(&mut self.buf).await {
                Ok(0) => return Err("connection closed by peer".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// What the writer task sends: bytes, or a marker answered when everything before it has
/// been written.
enum Out {
    Data(Bytes),
    Flush(oneshot::Sender<u128>),
}

/// The sending side of an established session.
struct Sender {
    tx: mpsc::UnboundedSender<Out>,
    writer: JoinHandle<()>,
    ctx: Context,
}

/// An established session.
struct Session {
    reader: Reader,
    tx: mpsc::UnboundedSender<Out>,
    writer: JoinHandle<()>,
    ctx: Context,
}

fn keepalive() -> Bytes {
    encode_to_bytes(&Message::Keepalive, &Context::BASIC).unwrap_or_default()
}

async fn write_loop(
    mut w: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Out>,
    every: Option<Duration>,
) {
    let ka = keepalive();
    let mut tick = tokio::time::interval(every.unwrap_or(Duration::from_secs(3600)));
    tick.tick().await;
    loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(Out::Data(b)) => {
                    if w.write_all(&b).await.is_err() {
                        break;
                    }
                }
                Some(Out::Flush(done)) => {
                    let _ = done.send(now_us());
                }
                None => {
                    let _ = w.shutdown().await;
                    break;
                }
            },
            _ = tick.tick(), if every.is_some() => {
                if w.write_all(&ka).await.is_err() {
                    break;
                }
            }
        }
    }
}

/// One connection attempt: TCP from `local`, OPEN with 4-octet AS, IPv4 unicast and route
/// refresh, then the KEEPALIVE exchange.
async fn try_establish(p: &SessionArgs, local: Ipv4Addr) -> Result<Session, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    sock.set_reuseaddr(true)
        .map_err(|e| format!("SO_REUSEADDR: {e}"))?;
    sock.bind(SocketAddr::new(local.into(), 0))
        .map_err(|e| format!("bind {local}: {e}"))?;
    let stream = timeout(Duration::from_secs(10), sock.connect(p.peer))
        .await
        .map_err(|_| format!("connect {}: timeout", p.peer))?
        .map_err(|e| format!("connect {}: {e}", p.peer))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (half, mut w) = stream.into_split();
    let caps = vec![
        Capability::Multiprotocol(Family::Ipv4Unicast),
        Capability::RouteRefresh,
        Capability::FourOctetAs(p.asn),
    ];
    let open = encode_to_bytes(
        &Message::Open(Open::new(p.asn, p.hold, local, caps)),
        &Context::BASIC,
    )
    .map_err(|e| format!("encode OPEN: {e}"))?;
    w.write_all(&open)
        .await
        .map_err(|e| format!("send OPEN: {e}"))?;
    let mut reader = Reader {
        half,
        buf: BytesMut::with_capacity(256 * 1024),
        framer: Framer::new(),
        ctx: Context::BASIC,
    };
    let wait = Duration::from_secs(30);
    let theirs = match timeout(wait, reader.next()).await {
        Err(_) => return Err("no OPEN within 30 s".into()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Message::Open(o))) => o,
        Ok(Ok(Message::Notification(n))) => return Err(format!("NOTIFICATION {n:?}")),
        Ok(Ok(m)) => return Err(format!("expected OPEN, got {}", m.kind_name())),
    };
    let ctx = Context {
        four_octet_as: theirs.has(code::FOUR_OCTET_AS),
        ebgp: theirs.asn() != p.asn,
        ..Context::BASIC
    };
    reader.ctx = ctx;
    reader.framer.set_context(&ctx);
    w.write_all(&keepalive())
        .await
        .map_err(|e| format!("send KEEPALIVE: {e}"))?;
    match timeout(wait, reader.next()).await {
        Err(_) => return Err("no KEEPALIVE within 30 s".into()),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Message::Keepalive)) => {}
        Ok(Ok(Message::Notification(n))) => return Err(format!("NOTIFICATION {n:?}")),
        Ok(Ok(m)) => return Err(format!("expected KEEPALIVE, got {}", m.kind_name())),
    }
    let hold = p.hold.min(theirs.hold_time);
    let every = (hold > 0).then(|| Duration::from_secs(u64::from(hold / 3).max(1)));
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(w, rx, every));
    Ok(Session {
        reader,
        tx,
        writer,
        ctx,
    })
}

/// Connects, retrying every half second until `connect_timeout` runs out.
async fn establish(p: &SessionArgs, local: Ipv4Addr) -> Result<Session, String> {
    let deadline = Instant::now() + Duration::from_secs(p.connect_timeout);
    loop {
        match try_establish(p, local).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => sleep(Duration::from_millis(500)).await,
        }
    }
}

fn end_of_rib(ctx: &Context, out: &mut BytesMut) -> Result<(), String> {
    encode(
        &Message::Update(Update::end_of_rib(Family::Ipv4Unicast)),
        ctx,
        out,
    )
    .map_err(|e| format!("encode End-of-RIB: {e}"))
}

/// Queues `bytes`, printing `first_update` before and `sent` once the last byte is written.
async fn send_phase(tx: &mpsc::UnboundedSender<Out>, phase: &str, bytes: Bytes, messages: usize) {
    let len = bytes.len();
    event(
        "first_update",
        &format!("\"phase\":\"{phase}\",\"messages\":{messages},\"bytes\":{len}"),
    );
    let (done, when) = oneshot::channel();
    if tx.send(Out::Data(bytes)).is_err() || tx.send(Out::Flush(done)).is_err() {
        event("error", "\"msg\":\"session closed while sending\"");
        return;
    }
    if let Ok(t) = when.await {
        println!("{{\"ev\":\"sent\",\"t_us\":{t},\"phase\":\"{phase}\"}}");
    }
}

async fn inject(a: InjectArgs) -> Result<(), String> {
    let k = a.attr_sets.unwrap_or_else(|| (a.prefixes * 10 / 33).max(1));
    let table = Table::generate(a.prefixes, k, a.seed)?;
    event(
        "generated",
        &format!(
            "\"prefixes\":{},\"attr_sets\":{}",
            table.len(),
            table.sets.len()
        ),
    );
    if let Some(path) = &a.dump {
        let text: String = table.prefixes.iter().map(|p| format!("{p}\n")).collect();
        return std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()));
    }
    let churn = table.churn_indices(a.churn);
    let local = a.session.local;
    let mut cmds = stdin_commands();
    let mut session: Option<(Sender, Bytes, usize)> = None;
    let mut drain: Option<JoinHandle<()>> = None;
    let mut pending: Vec<String> = if a.auto {
        vec!["up".into(), "announce".into()]
    } else {
        vec!["up".into()]
    };
    pending.reverse();
    loop {
        let cmd = match pending.pop() {
            Some(c) => c,
            None => match cmds.recv().await {
                Some(c) => c,
                None => break,
            },
        };
        match cmd.as_str() {
            "up" => {
                if session.is_some() {
                    continue;
                }
                let s = establish(&a.session, local).await?;
                let Session {
                    mut reader,
                    tx,
                    writer,
                    ctx,
                } = s;
                // Drain what the device sends (KEEPALIVEs), so that it never blocks.
                if let Some(d) = drain.take() {
                    d.abort();
                }
                drain = Some(tokio::spawn(async move {
                    loop {
                        match reader.next().await {
                            Ok(Message::Notification(n)) => {
                                let reason = json_str(&format!("{n:?}"));
                                event("closed", &format!("\"reason\":{reason}"));
                                break;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                event("closed", &format!("\"reason\":{}", json_str(&e)));
                                break;
                            }
                        }
                    }
                }));
                let s = Sender { tx, writer, ctx };
                let mut full = BytesMut::new();
                let messages = table.encode_announce(None, s.ctx, local, &mut full)?;
                end_of_rib(&s.ctx, &mut full)?;
                event("established", &format!("\"local\":\"{local}\""));
                session = Some((s, full.freeze(), messages + 1));
            }
            "announce" => {
                let Some((s, full, messages)) = &session else {
                    event("error", "\"msg\":\"announce: no session\"");
                    continue;
                };
                send_phase(&s.tx, "announce", full.clone(), *messages).await;
            }
            "withdraw" | "reannounce" => {
                let Some((s, _, _)) = &session else {
                    event("error", "\"msg\":\"churn: no session\"");
                    continue;
                };
                let mut out = BytesMut::new();
                let messages = if cmd == "withdraw" {
                    table.encode_withdraw(&churn, s.ctx, &mut out)?
                } else {
                    table.encode_announce(Some(&churn), s.ctx, local, &mut out)?
                };
                send_phase(&s.tx, &cmd, out.freeze(), messages).await;
            }
            "down" | "quit" => {
                // Stop draining first: the device closing the connection is expected now.
                if let Some(d) = drain.take() {
                    d.abort();
                }
                if let Some((s, _, _)) = session.take() {
                    event("down", "");
                    let n = Notification::cease_with_message(cease::ADMIN_SHUTDOWN, "benchmark");
                    if let Ok(b) = encode_to_bytes(&Message::Notification(n), &s.ctx) {
                        let _ = s.tx.send(Out::Data(b));
                    }
                    drop(s.tx);
                    let _ = timeout(Duration::from_secs(10), s.writer).await;
                }
                if cmd == "quit" {
                    break;
                }
            }
            "" => {}
            other => event("error", &format!("\"msg\":{}", json_str(other))),
        }
    }
    Ok(())
}

/// What collector tasks tell the main loop.
enum Report {
    Established(usize),
    Ready(usize, mpsc::UnboundedSender<Out>, Bytes),
    Reached(usize, u64, u128),
    Closed(usize, String),
}

struct Shared {
    /// Generation in the high 32 bits, expected count in the low 32.
    target: AtomicU64,
    counts: Vec<AtomicU64>,
}

async fn collector(
    id: usize,
    p: Arc<SessionArgs>,
    local: Ipv4Addr,
    own: Vec<ipnet::Ipv4Net>,
    shared: Arc<Shared>,
    gate: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    for _attempt in 0..3 {
        let permit = gate.acquire().await;
        let s = match establish(&p, local).await {
            Ok(s) => s,
            Err(e) => {
                let _ = reports.send(Report::Closed(id, e));
                return;
            }
        };
        drop(permit);
        let Session {
            mut reader,
            tx,
            ctx,
            ..
        } = s;
        if !own.is_empty() {
            let attrs = PathAttributes::from_values([
                AttrValue::Origin(Origin::Igp),
                AttrValue::AsPath(AsPath::default()),
                AttrValue::LocalPref(100),
            ]);
            let nlri: Vec<Nlri> = own.iter().map(|b| Nlri::new(IpNet::V4(*b))).collect();
            let mut out = BytesMut::new();
            let ok = UpdatePacker::new(ctx)
                .announce(&attrs, NextHop::V4(local), &nlri, &mut out)
                .is_ok()
                && end_of_rib(&ctx, &mut out).is_ok();
            if ok {
                let _ = reports.send(Report::Ready(id, tx.clone(), out.freeze()));
            }
        }
        let _ = reports.send(Report::Established(id));
        let mut held = Held::new(&own);
        let mut reported_gen = 0;
        let count = &shared.counts[id];
        count.store(0, Ordering::SeqCst);
        let reason = loop {
            match reader.next().await {
                Ok(Message::Update(u)) => {
                    held.apply(&u);
                    let n = u64::try_from(held.len()).unwrap_or(u64::MAX);
                    count.store(n, Ordering::SeqCst);
                    let t = shared.target.load(Ordering::SeqCst);
                    let gen = t >> 32;
                    if gen != reported_gen && n == t & 0xffff_ffff {
                        reported_gen = gen;
                        let _ = reports.send(Report::Reached(id, gen, now_us()));
                    }
                }
                Ok(Message::Notification(n)) => break format!("NOTIFICATION {n:?}"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        count.store(0, Ordering::SeqCst);
        let _ = reports.send(Report::Closed(id, reason));
        drop(tx);
        sleep(Duration::from_secs(1)).await;
    }
}

async fn collect(a: CollectArgs) -> Result<(), String> {
    let start = now_us();
    let locals = addresses(a.session.local, a.count);
    let n = locals.len();
    let shared = Arc::new(Shared {
        target: AtomicU64::new(0),
        counts: (0..n).map(|_| AtomicU64::new(0)).collect(),
    });
    let gate = Arc::new(Semaphore::new(a.parallel.max(1)));
    let params = Arc::new(a.session);
    let (rtx, mut reports) = mpsc::unbounded_channel();
    for (id, local) in locals.iter().enumerate() {
        let own = if a.blocks > 0 {
            blocks(a.block_base, a.block_len, id * a.blocks, a.blocks)
        } else {
            Vec::new()
        };
        tokio::spawn(collector(
            id,
            Arc::clone(&params),
            *local,
            own,
            Arc::clone(&shared),
            Arc::clone(&gate),
            rtx.clone(),
        ));
    }
    drop(rtx);
    let mut cmds = stdin_commands();
    let mut ready: Vec<Option<(mpsc::UnboundedSender<Out>, Bytes)>> = vec![None; n];
    let mut established = vec![false; n];
    let mut all_up_reported = false;
    let mut gen: u64 = 0;
    let mut target: u64 = 0;
    let mut reached: Vec<Option<u128>> = vec![None; n];
    let mut all_reported = true;
    let check_all = |reached: &[Option<u128>], all_reported: &mut bool, gen: u64, target: u64| {
        if *all_reported || reached.iter().any(Option::is_none) {
            return;
        }
        *all_reported = true;
        let last = reached.iter().flatten().max().copied().unwrap_or(0);
        let first = reached.iter().flatten().min().copied().unwrap_or(0);
        println!(
            "{{\"ev\":\"all_reached\",\"t_us\":{last},\"first_us\":{first},\"gen\":{gen},\"count\":{target}}}"
        );
    };
    loop {
        tokio::select! {
            r = reports.recv() => match r {
                None => {
                    event("error", "\"msg\":\"every collector gave up\"");
                    return Err("every collector gave up".into());
                }
                Some(Report::Established(id)) => {
                    established[id] = true;
                    event("established", &format!("\"id\":{id},\"local\":\"{}\"", locals[id]));
                    if !all_up_reported && established.iter().all(|&e| e) {
                        all_up_reported = true;
                        let ms = (now_us() - start) / 1000;
                        event("all_established", &format!("\"sessions\":{n},\"setup_ms\":{ms}"));
                    }
                }
                Some(Report::Ready(id, tx, b)) => ready[id] = Some((tx, b)),
                Some(Report::Reached(id, g, t)) => {
                    if g == gen && reached[id].is_none() {
                        reached[id] = Some(t);
                        if n <= 50 {
                            println!("{{\"ev\":\"reached\",\"t_us\":{t},\"id\":{id},\"gen\":{g}}}");
                        }
                        check_all(&reached, &mut all_reported, gen, target);
                    }
                }
                Some(Report::Closed(id, reason)) => {
                    established[id] = false;
                    event("closed", &format!("\"id\":{id},\"reason\":{}", json_str(&reason)));
                }
            },
            c = cmds.recv() => {
                let Some(c) = c else { break };
                let mut words = c.split_whitespace();
                match (words.next(), words.next().map(str::parse::<u64>)) {
                    (Some("expect"), Some(Ok(count))) => {
                        gen += 1;
                        target = count.min(0xffff_ffff);
                        shared.target.store(gen << 32 | target, Ordering::SeqCst);
                        let now = now_us();
                        for (i, r) in reached.iter_mut().enumerate() {
                            *r = (shared.counts[i].load(Ordering::SeqCst) == target).then_some(now);
                        }
                        all_reported = false;
                        event("expect", &format!("\"gen\":{gen},\"count\":{target}"));
                        check_all(&reached, &mut all_reported, gen, target);
                    }
                    (Some("announce"), None) => {
                        event("first_update", "\"phase\":\"announce\"");
                        for (tx, b) in ready.iter().flatten() {
                            let _ = tx.send(Out::Data(b.clone()));
                        }
                    }
                    (Some("status"), None) => {
                        let counts: Vec<String> = shared
                            .counts
                            .iter()
                            .map(|c| c.load(Ordering::SeqCst).to_string())
                            .collect();
                        let up = established.iter().filter(|&&e| e).count();
                        event(
                            "status",
                            &format!("\"established\":{up},\"counts\":[{}]", counts.join(",")),
                        );
                    }
                    (Some("quit"), None) => break,
                    (None, _) => {}
                    _ => event("error", &format!("\"msg\":{}", json_str(&c))),
                }
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Inject(a) => inject(a).await,
        Mode::Collect(a) => collect(a).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            event("error", &format!("\"msg\":{}", json_str(&e)));
            eprintln!("bgp-load: {e}");
            ExitCode::FAILURE
        }
    }
}
