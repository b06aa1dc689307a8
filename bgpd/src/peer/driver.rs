//! The peer task: moves bytes and time in and out of the session state machine, imports
//! what the peer sends, and tells the routing task when the session comes and goes.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp_wire::notification::{cease, CEASE};
use bgp_wire::{Message, Notification, RouteRefresh};
use bytes::{Bytes, BytesMut};

use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::import::ImportContext;
use super::outputs::{act_extra, attach};
use super::writer::WriterHandle;
use super::{PeerHandle, PeerStatus};
use crate::exchange::commands::{self, CommandReceiver, CommandSender};
use crate::exchange::{ExportSettings, PeerCommand, PeerKey};
use crate::observe::Observers;
use crate::routing::RoutingInput;
use crate::session::collision::Rival;
use crate::session::{ConnectionRole, Input, Output, Session, SessionConfig, SessionError, State};
use crate::transport::{self, SocketOptions};

/// How long an outgoing connection attempt may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything a peer task needs.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The key the routing task knows the peer by.
    pub key: PeerKey,
    /// The neighbor's configured name.
    pub name: String,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Session settings.
    pub session: SessionConfig,
    /// Socket settings.
    pub socket: SocketOptions,
    /// Checks and import policy (peer AS and eBGP are filled in at Established).
    pub import: ImportContext,
    /// How routes are exported to the peer.
    pub export: ExportSettings,
    /// Monitors of the session (BMP).
    pub observers: Observers,
    /// Start the session at once.
    pub start: bool,
}

/// One end of a connection.
pub(super) struct Conn {
    pub(super) reader: OwnedReadHalf,
    pub(super) writer: WriterHandle,
    pub(super) local: Option<IpAddr>,
    /// Both ends (ours, the peer's), for monitors.
    pub(super) endpoints: Option<(std::net::SocketAddr, std::net::SocketAddr)>,
}

/// A session with its connection.
pub(super) struct Slot {
    pub(super) session: Session,
    pub(super) conn: Option<Conn>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Starts a peer task; it runs until every command sender is dropped.
pub fn spawn(
    spec: PeerSpec,
    routing: mpsc::Sender<RoutingInput>,
) -> Result<PeerHandle, SessionError> {
    let session = Session::new(spec.session.clone())?;
    let (commands, rx) = commands::channel();
    let status = Arc::new(Mutex::new(PeerStatus {
        name: spec.name.clone(),
        address: spec.remote.ip(),
        state: State::Idle,
        established_at: None,
        negotiated: None,
        counters: session.counters().clone(),
        last_error: None,
        received: 0,
        received_ipv6: 0,
        pool_refused: Default::default(),
        local_address: None,
    }));
    let handle = PeerHandle {
        key: spec.key,
        commands: commands.clone(),
        status: status.clone(),
    };
    let driver = Driver {
        main: Slot {
            session,
            conn: None,
        },
        extra: None,
        connecting: None,
        import: spec.import.clone(),
        spec,
        routing,
        status,
        self_commands: commands,
        refused_logged: Default::default(),
        up: false,
        restart_after_stop: false,
        peer_restart_time: Duration::ZERO,
        peer_llgr_time: Duration::ZERO,
    };
    // Boxed: an `async fn` taking `self` by value keeps it twice in its future (the
    // argument and the moved local), 5.7 KB per session instead of 16 bytes.
    tokio::spawn(Box::new(driver).run(rx));
    Ok(handle)
}

pub(super) struct Driver {
    pub(super) spec: PeerSpec,
    pub(super) main: Slot,
    /// A second connection from the peer while `main` has one (RFC 4271 section 6.8).
    /// Boxed: rarely present, and a Slot is 1 KB in every session's task.
    pub(super) extra: Option<Box<Slot>>,
    pub(super) connecting: Option<Connecting>,
    pub(super) import: ImportContext,
    pub(super) routing: mpsc::Sender<RoutingInput>,
    pub(super) status: Arc<Mutex<PeerStatus>>,
    pub(super) self_commands: CommandSender,
    /// Prefixes the Calico guard refused and logged, once each for the task's life.
    pub(super) refused_logged: std::collections::HashSet<ipnet::IpNet>,
    /// The routing task knows the session as up.
    pub(super) up: bool,
    /// `Clear`: start again once stopped.
    pub(super) restart_after_stop: bool,
    /// The peer's graceful restart time, from the last OPEN exchange.
    pub(super) peer_restart_time: Duration,
    /// The peer's long-lived stale time (RFC 9494), the shortest of its families.
    pub(super) peer_llgr_time: Duration,
}

/// Read buffer of a session: first size (a KEEPALIVE is 19 bytes, a Calico node's UPDATE about
/// 100), and size once a read has filled it.
const READ_BUF_MIN: usize = 256;
const READ_BUF_MAX: usize = 64 * 1024;

async fn read(conn: &mut Option<Conn>, buf: &mut BytesMut) -> io::Result<usize> {
    match conn {
        Some(c) => c.reader.read_buf(buf).await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(mut self: Box<Self>, mut commands: CommandReceiver) {
        let now = Instant::now();
        if self.spec.start {
            self.main.session.handle(now, Input::Start);
        }
        // Starts small (an idle session reads keepalives) and grows once a read fills it
        // (a table arriving), so hundreds of Calico sessions stay cheap.
        let mut main_buf = BytesMut::with_capacity(READ_BUF_MIN);
        // Only a colliding second connection uses it (for a few messages): allocated while
        // there is one, so hundreds of idle sessions do not each hold a buffer.
        let mut extra_buf = BytesMut::new();
        loop {
            // Boxed: its 1 KB of state would otherwise sit in every idle session's task for
            // good; one allocation per read is cheap next to decoding it.
            Box::pin(self.flush()).await;
            match &self.extra {
                Some(_) if extra_buf.capacity() == 0 => extra_buf.reserve(4096),
                None if extra_buf.capacity() != 0 => extra_buf = BytesMut::new(),
                _ => {}
            }
            if let Ok(mut s) = self.status.lock() {
                s.counters.clone_from(self.main.session.counters());
            }
            let deadline = [
                self.main.session.next_deadline(),
                self.extra.as_ref().and_then(|s| s.session.next_deadline()),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let connecting = async {
                match self.connecting.as_mut() {
                    Some(c) => c.await,
                    None => std::future::pending().await,
                }
            };
            let wrote = self
                .main
                .conn
                .as_ref()
                .map(|c| c.writer.wrote_updates.clone());
            let wrote_updates = async {
                match wrote {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            };
            let extra_conn = match self.extra.as_mut() {
                Some(slot) => &mut slot.conn,
                None => &mut None,
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    // Boxed: commands are rare, and the state of one waiting for room in
                    // the routing task's queue would otherwise sit in every session's task.
                    Some(cmd) => Box::pin(self.command(cmd)).await,
                    None => {
                        self.main.session.handle(Instant::now(), Input::Stop { graceful: true, notification: None });
                        Box::pin(self.flush()).await;
                        return;
                    }
                },
                r = read(&mut self.main.conn, &mut main_buf) => {
                    let now = Instant::now();
                    match r {
                        Ok(n) if n > 0 => {
                            self.main.session.feed_bytes(now, &main_buf);
                            let filled = n == main_buf.capacity();
                            main_buf.clear();
                            if filled && main_buf.capacity() < READ_BUF_MAX {
                                main_buf.reserve(READ_BUF_MAX);
                            }
                        }
                        _ => self.main.session.handle(now, Input::TcpFailed),
                    }
                }
                r = read(extra_conn, &mut extra_buf) => {
                    let now = Instant::now();
                    if let Some(slot) = self.extra.as_mut() {
                        match r {
                            Ok(n) if n > 0 => {
                                slot.session.feed_bytes(now, &extra_buf);
                                extra_buf.clear();
                            }
                            _ => slot.session.handle(now, Input::TcpFailed),
                        }
                    }
                }
                r = connecting => {
                    self.connecting = None;
                    let now = Instant::now();
                    match r {
                        Ok(stream) => {
                            self.attach_main(stream);
                            self.main.session.handle(now, Input::TcpConnected(ConnectionRole::Outgoing));
                        }
                        Err(e) => {
                            debug!(neighbor = %self.spec.name, error = %e, "connect failed");
                            self.main.session.handle(now, Input::TcpFailed);
                        }
                    }
                }
                () = wrote_updates => {
                    // UPDATEs from the routing task were written: count them (and they
                    // restart the keepalive timer, RFC 4271 section 10).
                    if let Some(c) = &self.main.conn {
                        let n = c.writer.take_updates_sent();
                        if n > 0 {
                            self.main.session.updates_sent(Instant::now(), n);
                        }
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    self.main.session.handle_timeout(now);
                    if let Some(slot) = self.extra.as_mut() {
                        slot.session.handle_timeout(now);
                    }
                }
            }
        }
    }

    fn attach_main(&mut self, stream: TcpStream) {
        self.main.conn = Some(attach(stream, &self.spec));
        if let Ok(mut s) = self.status.lock() {
            s.local_address = self.main.conn.as_ref().and_then(|c| c.local);
        }
    }

    async fn command(&mut self, cmd: PeerCommand) {
        let now = Instant::now();
        let s = &mut self.main.session;
        match cmd {
            PeerCommand::Start => s.handle(now, Input::Start),
            PeerCommand::Stop {
                graceful,
                notification,
            } => s.handle(
                now,
                Input::Stop {
                    graceful,
                    notification: notification.map(|n| *n),
                },
            ),
            // An idle session (waiting out its backoff) has nothing to reset: it starts
            // now. Stopping it would wait for a change to Idle that never comes, and leave
            // it stopped for good (a soak found it: a clear right after a collision).
            PeerCommand::Clear if s.state() == State::Idle => {
                if s.is_admin_up() {
                    s.handle(now, Input::Start);
                }
            }
            PeerCommand::Clear => {
                self.restart_after_stop = true;
                s.handle(
                    now,
                    Input::Stop {
                        graceful: false,
                        notification: Some(Notification::new(
                            CEASE,
                            cease::ADMIN_RESET,
                            Bytes::new(),
                        )),
                    },
                );
            }
            PeerCommand::MaxPrefixExceeded => s.handle(
                now,
                Input::AutomaticStop {
                    notification: Notification::new(CEASE, cease::MAX_PREFIXES, Bytes::new()),
                },
            ),
            PeerCommand::Resync => s.handle(
                now,
                Input::AutomaticStop {
                    notification: Notification::new(CEASE, cease::OUT_OF_RESOURCES, Bytes::new()),
                },
            ),
            PeerCommand::Refresh => {
                let families = s
                    .negotiated()
                    .filter(|n| n.route_refresh)
                    .map(|n| n.families.clone())
                    .unwrap_or_default();
                for family in families {
                    let msg = Message::RouteRefresh(RouteRefresh::request(family));
                    if let Err(e) = s.send_message(now, &msg) {
                        warn!(neighbor = %self.spec.name, error = %e, "cannot send ROUTE-REFRESH");
                    }
                }
            }
            PeerCommand::PathDown { source } => {
                s.handle(now, Input::PathDown { source });
                // A colliding second connection runs over the same dead path.
                if let Some(slot) = self.extra.as_mut() {
                    slot.session.handle(now, Input::PathDown { source });
                }
            }
            PeerCommand::PathUp => s.handle(now, Input::PathUp),
            PeerCommand::Incoming(stream) => self.incoming(*stream, now),
            PeerCommand::Reconfigure(r) => self.reconfigure(*r).await,
            PeerCommand::Drain(on) => self.drain(on).await,
        }
    }

    fn incoming(&mut self, stream: TcpStream, now: Instant) {
        if let Err(e) = transport::prepare_accepted(&stream, &self.spec.socket) {
            warn!(neighbor = %self.spec.name, error = %e, "cannot set socket options");
            return;
        }
        if self.main.conn.is_none() {
            // Idle refuses (the session answers CloseConnection); Connect and Active take it
            // and abandon their own attempt. A session idling after an error or a Cease
            // (the idle hold timer) is not administratively down: the peer is back, so take
            // its connection now rather than refuse it until the hold runs out.
            if self.main.session.state() == State::Idle && self.main.session.is_admin_up() {
                self.main.session.handle(now, Input::Start);
            }
            self.connecting = None;
            self.attach_main(stream);
            self.main
                .session
                .handle(now, Input::TcpConnected(ConnectionRole::Incoming));
            return;
        }
        // A second connection: a collision, or (against an Established session) a peer
        // that restarted before we noticed; the OPEN on it decides (RFC 4271 section 6.8,
        // RFC 4724 section 4.2). A third one is refused.
        // An extra session that has gone Idle is finished, whatever its connection says.
        if self
            .extra
            .as_ref()
            .is_some_and(|e| e.session.state() == State::Idle)
        {
            self.extra = None;
        }
        if self.extra.is_some() {
            debug!(neighbor = %self.spec.name, "refusing a further connection");
            return;
        }
        match Session::incoming(self.spec.session.clone(), now) {
            Ok(session) => {
                self.extra = Some(Box::new(Slot {
                    session,
                    conn: Some(attach(stream, &self.spec)),
                }))
            }
            Err(e) => warn!(neighbor = %self.spec.name, error = %e, "cannot start session"),
        }
    }

    /// Acts on every output of both sessions until there are none. A session that wins a
    /// collision (`Output::CollisionWon`) dumps the other; an incoming one that wins
    /// becomes the main session.
    async fn flush(&mut self) {
        loop {
            let mut acted = false;
            while let Some(out) = self.main.session.poll_output() {
                acted = true;
                match out {
                    Output::CollisionWon => self.dump_extra(),
                    out => self.act_main(out).await,
                }
            }
            if self.main_lost_to_extra() {
                // Its outputs (up to Established) are the main session's from now on.
                self.promote_extra("the session's connection closed: keeping the peer's new one")
                    .await;
                continue;
            }
            let mut won = false;
            if let Some(slot) = self.extra.as_mut() {
                while let Some(out) = slot.session.poll_output() {
                    acted = true;
                    match out {
                        Output::CollisionWon => {
                            won = true;
                            break;
                        }
                        out => act_extra(slot, out),
                    }
                }
                if !won && slot.conn.is_none() {
                    self.extra = None;
                }
            }
            if won {
                self.promote_extra("connection collision: keeping the peer's connection")
                    .await;
            }
            if !acted {
                self.sync_rivals();
                return;
            }
        }
    }

    /// Tells each session about the other (collision detection runs inside the FSM).
    fn sync_rivals(&mut self) {
        let main_rival = self.extra.as_ref().and_then(|e| Rival::of(&e.session));
        if let Some(e) = self.extra.as_mut() {
            e.session.set_rival(Rival::of(&self.main.session));
        }
        self.main.session.set_rival(main_rival);
    }

    fn dump_extra(&mut self) {
        if let Some(mut slot) = self.extra.take() {
            slot.session.handle(Instant::now(), Input::CollisionDump);
            while let Some(out) = slot.session.poll_output() {
                act_extra(&mut slot, out);
            }
        }
    }

    /// The main session lost its connection while the peer's second one was being opened
    /// (it reset the session and reconnected at once): with no rival left, that one would
    /// reach Established in the extra slot, unknown to the routing task, and hold the
    /// peer's session there for good (a soak found it: the peer Established, no routes).
    /// It becomes the session, unless the session was stopped by the operator.
    fn main_lost_to_extra(&mut self) -> bool {
        let Some(extra) = &self.extra else {
            return false;
        };
        if self.main.conn.is_some()
            || self.main.session.state().has_connection()
            || extra.session.state() == State::Idle
            || extra.conn.is_none()
        {
            return false;
        }
        if !self.main.session.is_admin_up() {
            self.dump_extra();
            return false;
        }
        true
    }

    async fn promote_extra(&mut self, why: &'static str) {
        info!(neighbor = %self.spec.name, "{why}");
        // The main session's own connection attempt, if any, is abandoned.
        self.connecting = None;
        self.main
            .session
            .handle(Instant::now(), Input::CollisionDump);
        // The old session's NOTIFICATION, Down and close go out on the old connection.
        while let Some(out) = self.main.session.poll_output() {
            if !matches!(out, Output::CollisionWon) {
                self.act_main(out).await;
            }
        }
        if let Some(mut winner) = self.extra.take() {
            winner.session.promote(&self.main.session);
            self.main = *winner;
            if let Ok(mut s) = self.status.lock() {
                s.local_address = self.main.conn.as_ref().and_then(|c| c.local);
                s.state = self.main.session.state();
            }
        }
    }
}
