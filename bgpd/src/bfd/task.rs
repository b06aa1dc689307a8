//! The BFD task: every session's sockets and timers, one tokio task for all of them. It is
//! told the wanted sessions (the neighbors with `bfd`) on start and on every reload, answers
//! `bgpctl show bfd`, and reports every state change to the daemon, which takes the BGP
//! session down when the path failed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::api::{BfdCommand, BfdEvent, BfdPeer, BfdRow, Ports};
use super::auth::AuthState;
use super::machine::{self, Session, Transition};
use super::packet::{ControlPacket, State};
use super::resume::{self, Suspended};
use super::socket;

/// Before a restart, each Up session asks its neighbor to wait this many times one second
/// (`Session::stretch`) for our next packet: the window in which the next run must start.
const SUSPEND_MULTIPLIER: u8 = 10;
/// The Desired Min TX advertised while suspending.
const SUSPEND_TX: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest the stopping daemon waits for the neighbors' Finals.
const SUSPEND_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The longest a removed session keeps saying AdminDown.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Spawns the task; the daemon talks to it through the returned queue.
pub(super) fn spawn(
    ports: Ports,
    events: mpsc::UnboundedSender<BfdEvent>,
    resumable: Vec<Suspended>,
) -> mpsc::Sender<BfdCommand> {
    let (commands, rx) = mpsc::channel(16);
    let task = Task {
        ports,
        entries: HashMap::new(),
        by_discriminator: HashMap::new(),
        draining: Vec::new(),
        resumable: resumable.into_iter().map(|s| (s.address, s)).collect(),
        suspending: None,
        v4: None,
        v6: None,
        m4: None,
        m6: None,
        next_discriminator: initial_discriminator(),
        events,
    };
    tokio::spawn(task.run(rx));
    commands
}

/// A starting point that differs between runs, so that a restarted daemon's sessions are
/// not mistaken for the previous run's (any nonzero value is valid).
fn initial_discriminator() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos ^ std::process::id().rotate_left(16)) | 1
}

struct Entry {
    peer: BfdPeer,
    session: Session,
    sender: std::net::UdpSocket,
    /// Keyed SHA1 state, when configured.
    auth: Option<AuthState>,
    /// When the last valid packet arrived (for bfd.AuthSeqKnown, RFC 5880 section 6.8.1).
    last_rx: Option<Instant>,
    /// The neighbor speaks multi-hop BFD (RFC 5883): we send to its port 4784.
    multihop: bool,
    /// Send errors since the last one logged.
    send_errors: u64,
}

impl Entry {
    /// The packet on the wire, signed when authentication is configured.
    fn wire(&mut self, p: &ControlPacket) -> Vec<u8> {
        match &mut self.auth {
            Some(a) => a.sign(p),
            None => p.encode(),
        }
    }
}

/// Authentication state for `settings`, starting at a sequence number that differs between
/// runs and sessions (RFC 5880 section 6.8.1 asks for a random one).
fn auth_state(settings: &config::Bfd, discriminator: u32) -> Option<AuthState> {
    settings
        .auth
        .map(|k| AuthState::new(k, initial_discriminator() ^ discriminator.rotate_left(7)))
}

struct Task {
    ports: Ports,
    /// By the neighbor's address: single hop, so the source address names the session.
    entries: HashMap<IpAddr, Entry>,
    by_discriminator: HashMap<u32, IpAddr>,
    /// Sessions removed by a reload, still saying AdminDown until the time given.
    draining: Vec<(IpAddr, Entry, Instant)>,
    /// Sessions the previous run suspended, taken over when configured.
    resumable: HashMap<IpAddr, Suspended>,
    /// A restart is under way: where to write the sessions, whom to tell, and until when
    /// to wait for the neighbors' Finals.
    suspending: Option<(std::path::PathBuf, oneshot::Sender<()>, Instant)>,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    /// Multi-hop receivers.
    m4: Option<UdpSocket>,
    m6: Option<UdpSocket>,
    next_discriminator: u32,
    /// Unbounded: the task never waits for the daemon, which may be waiting for the task
    /// (`show`, `shutdown`); events are a few per state change.
    events: mpsc::UnboundedSender<BfdEvent>,
}

async fn receive_on(
    sock: Option<&UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<i32>)> {
    match sock {
        Some(s) => socket::receive(s, buf).await,
        None => std::future::pending().await,
    }
}

impl Task {
    async fn run(mut self, mut commands: mpsc::Receiver<BfdCommand>) {
        let (mut buf4, mut buf6, mut bufm4, mut bufm6) =
            ([0u8; 512], [0u8; 512], [0u8; 512], [0u8; 512]);
        loop {
            let deadline = self
                .entries
                .values()
                .chain(self.draining.iter().map(|(_, e, _)| e))
                .filter_map(|e| e.session.next_deadline())
                .chain(self.suspending.as_ref().map(|s| s.2))
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                c = commands.recv() => match c {
                    Some(BfdCommand::Configure(peers)) => self.configure(peers),
                    Some(BfdCommand::Show(reply)) => {
                        let _ = reply.send(self.rows());
                    }
                    Some(BfdCommand::Shutdown(done)) => {
                        self.admin_down_all().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(BfdCommand::Suspend(dir, done)) => self.start_suspending(dir, done),
                    None => return,
                },
                r = receive_on(self.v4.as_ref(), &mut buf4) => self.received(r, &buf4, false),
                r = receive_on(self.v6.as_ref(), &mut buf6) => self.received(r, &buf6, false),
                r = receive_on(self.m4.as_ref(), &mut bufm4) => self.received(r, &bufm4, true),
                r = receive_on(self.m6.as_ref(), &mut bufm6) => self.received(r, &bufm6, true),
                () = sleep => {}
            }
            let now = Instant::now();
            self.drive(now);
            if self.finish_suspending(now) {
                return;
            }
        }
    }

    fn rows(&self) -> Vec<BfdRow> {
        let mut rows: Vec<BfdRow> = self
            .entries
            .values()
            .map(|e| BfdRow {
                peer: e.peer.clone(),
                status: e.session.status(),
                multihop: e.multihop,
            })
            .collect();
        rows.sort_by(|a, b| a.peer.neighbor.cmp(&b.peer.neighbor));
        rows
    }

    fn configure(&mut self, peers: Vec<BfdPeer>) {
        let now = Instant::now();
        let wanted: HashMap<IpAddr, BfdPeer> = peers.into_iter().map(|p| (p.address, p)).collect();
        let gone: Vec<IpAddr> = self
            .entries
            .iter()
            .filter(|(a, e)| {
                wanted
                    .get(a)
                    .is_none_or(|p| p.local != e.peer.local || p.neighbor != e.peer.neighbor)
            })
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            if let Some(mut e) = self.entries.remove(&a) {
                self.by_discriminator
                    .remove(&e.session.local_discriminator());
                // Tell the neighbor, so that it does not take our silence for a failure:
                // AdminDown for as long as its detection time of us (RFC 5880 section
                // 6.8.16), then forget the session.
                e.session.set_admin_down(now, true);
                let st = e.session.status();
                let detect = st.remote_min_rx.max(machine::SLOW_TX) * u32::from(st.multiplier);
                let until = now + detect.min(DRAIN_LIMIT);
                info!(neighbor = %e.peer.neighbor, address = %a, "BFD session removed");
                self.draining.push((a, e, until));
            }
        }
        // A neighbor configured again stops its old session's AdminDown at once: those
        // packets carry the neighbor's discriminator and would take the new session down.
        self.draining.retain(|(a, _, _)| !wanted.contains_key(a));
        for (address, peer) in wanted {
            if let Some(e) = self.entries.get_mut(&address) {
                if e.peer.settings.auth != peer.settings.auth {
                    e.auth = auth_state(&peer.settings, e.session.local_discriminator());
                }
                e.session.configure(now, peer.settings);
                e.session.set_admin_down(now, !peer.enabled);
                e.peer = peer;
                continue;
            }
            if let Err(error) = self.ensure_listener(address.is_ipv6()) {
                warn!(neighbor = %peer.neighbor, %error, port = self.ports.listen, "BFD: cannot receive");
                continue;
            }
            // The previous run's session, if it handed one over in time and its
            // discriminator is free: continued Up, the neighbor never sees it go down.
            let resumed = self
                .resumable
                .remove(&address)
                .filter(|s| s.local_discriminator != 0)
                .filter(|s| !self.by_discriminator.contains_key(&s.local_discriminator))
                .filter(|_| peer.enabled);
            let discriminator = match &resumed {
                Some(s) => s.local_discriminator,
                None => self.allocate_discriminator(),
            };
            let sender = match socket::sender(
                address,
                peer.local,
                u16::try_from(discriminator % 65_536).unwrap_or(0),
            ) {
                Ok(s) => s,
                Err(error) => {
                    warn!(neighbor = %peer.neighbor, %error, "BFD: cannot open a sending socket");
                    continue;
                }
            };
            let (session, auth) = match &resumed {
                Some(s) => {
                    info!(neighbor = %peer.neighbor, %address, discriminator, "BFD session taken over from the previous run");
                    let auth = peer
                        .settings
                        .auth
                        .map(|k| AuthState::new(k, s.auth_seq.unwrap_or(0)));
                    (Session::resumed(peer.settings, s, now), auth)
                }
                None => {
                    let mut session = Session::new(peer.settings, discriminator, now);
                    session.set_admin_down(now, !peer.enabled);
                    (session, auth_state(&peer.settings, discriminator))
                }
            };
            info!(
                neighbor = %peer.neighbor,
                %address,
                discriminator,
                min_rx = ?peer.settings.min_rx,
                min_tx = ?peer.settings.min_tx,
                multiplier = peer.settings.multiplier,
                "BFD session started"
            );
            self.by_discriminator.insert(discriminator, address);
            self.entries.insert(
                address,
                Entry {
                    auth,
                    peer,
                    session,
                    sender,
                    last_rx: None,
                    multihop: resumed.as_ref().is_some_and(|s| s.multihop),
                    send_errors: 0,
                },
            );
        }
        // The hand-over is for the first configuration only: later, its timers are stale.
        self.resumable.clear();
    }

    /// A restart begins: every Up session asks its neighbor for a detection time of
    /// `SUSPEND_MULTIPLIER` seconds (a Poll Sequence); `finish_suspending` writes them out once
    /// the Finals are in, or after `SUSPEND_WAIT`.
    fn start_suspending(&mut self, dir: std::path::PathBuf, done: oneshot::Sender<()>) {
        let now = Instant::now();
        for e in self.entries.values_mut() {
            e.session.stretch(now, SUSPEND_TX, SUSPEND_MULTIPLIER);
        }
        self.suspending = Some((dir, done, now + SUSPEND_WAIT));
    }

    /// Whether the restart's hand-over is written and the task may end.
    fn finish_suspending(&mut self, now: Instant) -> bool {
        let Some((_, _, until)) = &self.suspending else {
            return false;
        };
        let waiting = self
            .entries
            .values()
            .any(|e| e.session.state() == State::Up && e.session.polling());
        if waiting && now < *until {
            return false;
        }
        let Some((dir, done, _)) = self.suspending.take() else {
            return false;
        };
        // A session whose neighbor did not confirm the longer detection time is not handed
        // over: the next run would count on a window the neighbor does not give.
        let sessions: Vec<Suspended> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.session.polling())
            .filter_map(|(a, e)| {
                let mut s = e.session.suspended(*a, e.multihop)?;
                s.auth_seq = e.auth.as_ref().map(AuthState::xmit_seq);
                Some(s)
            })
            .collect();
        let n = sessions.len();
        match resume::write(&dir, sessions) {
            Ok(()) => info!(
                sessions = n,
                unanswered = waiting,
                "BFD sessions handed over to the next run"
            ),
            Err(error) => {
                warn!(%error, dir = %dir.display(), "BFD: cannot write the sessions for the next run")
            }
        }
        let _ = done.send(());
        true
    }

    /// AdminDown on every session, sent three times 50 ms apart: one lost datagram must not
    /// turn a maintenance into a detected failure, and a restart cannot wait a detection
    /// time (RFC 5880 section 6.8.16 asks for that long; 100 ms is the compromise).
    async fn admin_down_all(&mut self) {
        let now = Instant::now();
        for e in self.entries.values_mut() {
            e.session.set_admin_down(now, true);
        }
        self.drive(now);
        let ports = self.ports;
        for _ in 0..2 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            for (address, e) in &mut self.entries {
                let p = e.session.current_packet();
                let wire = e.wire(&p);
                let port = ports.peer_port(e.multihop);
                let _ = e.sender.send_to(&wire, SocketAddr::new(*address, port));
            }
        }
        info!(sessions = self.entries.len(), "BFD sessions set AdminDown");
    }

    /// The single-hop receiver of the family, and the multi-hop one (a failure of the latter
    /// is logged, not fatal: single hop is what is configured).
    fn ensure_listener(&mut self, ipv6: bool) -> std::io::Result<()> {
        let slot = if ipv6 { &mut self.v6 } else { &mut self.v4 };
        if slot.is_none() {
            *slot = Some(socket::listener(ipv6, self.ports.listen)?);
        }
        let multi = if ipv6 { &mut self.m6 } else { &mut self.m4 };
        if let (None, Some(port)) = (&multi, self.ports.multihop_listen) {
            match socket::listener(ipv6, port) {
                Ok(s) => *multi = Some(s),
                Err(error) => warn!(%error, port, "BFD: cannot receive multi-hop packets"),
            }
        }
        Ok(())
    }

    fn allocate_discriminator(&mut self) -> u32 {
        loop {
            let d = self.next_discriminator;
            self.next_discriminator = self.next_discriminator.wrapping_add(1).max(1);
            let resumable = self.resumable.values().any(|s| s.local_discriminator == d);
            if d != 0 && !self.by_discriminator.contains_key(&d) && !resumable {
                return d;
            }
        }
    }

    /// RFC 5881 section 5: TTL 255 or the packet is dropped; then RFC 5880 section 6.8.6:
    /// decoded, matched by Your Discriminator (or, while it is zero, by the source address).
    ///
    /// A configured neighbor may speak multi-hop BFD (RFC 5883, port 4784) although it is
    /// directly connected: FRR does for a neighbor with `ttl-security`, still with TTL 255.
    /// So TTL 255 is required on both ports, unless the session is authenticated: then a
    /// multi-hop packet may have any TTL (RFC 5883 section 5: authentication instead). Once
    /// such a packet is accepted, the session answers on 4784.
    fn received(
        &mut self,
        r: std::io::Result<(usize, SocketAddr, Option<i32>)>,
        buf: &[u8],
        multihop: bool,
    ) {
        let (len, from, ttl) = match r {
            Ok(x) => x,
            Err(error) => {
                debug!(%error, "BFD receive");
                return;
            }
        };
        let packet = match ControlPacket::decode(buf.get(..len).unwrap_or_default()) {
            Ok(p) => p,
            Err(error) => {
                debug!(%from, %error, "BFD packet dropped");
                return;
            }
        };
        let address = if packet.your_discriminator != 0 {
            match self.by_discriminator.get(&packet.your_discriminator) {
                Some(a) if *a == from.ip() => *a,
                _ => {
                    debug!(%from, your = packet.your_discriminator, "BFD packet for no session");
                    return;
                }
            }
        } else {
            from.ip()
        };
        let Some(e) = self.entries.get_mut(&address) else {
            debug!(%from, "BFD packet from no configured neighbor");
            return;
        };
        if ttl != Some(255) && !(multihop && e.auth.is_some()) {
            debug!(%from, ?ttl, "BFD packet dropped: TTL is not 255");
            return;
        }
        let now = Instant::now();
        match &mut e.auth {
            // Section 6.8.6: the A bit set while bfd.AuthType is zero.
            None if packet.auth.is_some() => {
                debug!(%from, "BFD packet dropped: authenticated, but no `auth` configured");
                return;
            }
            None => {}
            Some(auth) => {
                // Section 6.8.1: bfd.AuthSeqKnown is cleared after twice the detection time
                // without a valid packet.
                let silence = e.session.status().detect_time.map(|d| d * 2);
                if let (Some(last), Some(limit)) = (e.last_rx, silence) {
                    if now.saturating_duration_since(last) > limit {
                        auth.forget_sequence();
                    }
                }
                if let Err(error) = auth.verify(&packet) {
                    debug!(%from, %error, "BFD packet dropped: authentication");
                    return;
                }
            }
        }
        if e.multihop != multihop {
            info!(
                neighbor = %e.peer.neighbor,
                multihop,
                "BFD: the neighbor speaks {}; answering on its port",
                if multihop { "multi-hop (RFC 5883)" } else { "single-hop (RFC 5881)" }
            );
            e.multihop = multihop;
        }
        e.last_rx = Some(now);
        e.session.receive(now, &packet);
    }

    /// Sends what is due and reports what changed.
    fn drive(&mut self, now: Instant) {
        let mut events = Vec::new();
        let ports = self.ports;
        self.draining.retain(|(_, _, until)| now < *until);
        for (address, e, _) in &mut self.draining {
            while let Some(p) = e.session.poll(now) {
                let wire = e.wire(&p);
                let _ = e.sender.send_to(
                    &wire,
                    SocketAddr::new(*address, ports.peer_port(e.multihop)),
                );
            }
            while e.session.next_change().is_some() {}
        }
        for (address, e) in &mut self.entries {
            let port = ports.peer_port(e.multihop);
            while let Some(p) = e.session.poll(now) {
                let wire = e.wire(&p);
                if let Err(error) = e.sender.send_to(&wire, SocketAddr::new(*address, port)) {
                    e.send_errors += 1;
                    if e.send_errors == 1 || e.send_errors.is_power_of_two() {
                        debug!(neighbor = %e.peer.neighbor, %error, errors = e.send_errors, "BFD send");
                    }
                }
            }
            while let Some(t) = e.session.next_change() {
                log_transition(&e.peer, &t);
                events.push(BfdEvent {
                    neighbor: e.peer.neighbor.clone(),
                    address: *address,
                    transition: t,
                });
            }
        }
        for event in events {
            let _ = self.events.send(event);
        }
    }
}

fn log_transition(peer: &BfdPeer, t: &Transition) {
    let (neighbor, address, from, to, diag) = (&peer.neighbor, peer.address, t.from, t.to, t.diag);
    if t.path_failed {
        warn!(%neighbor, %address, %from, %to, %diag, "BFD session down: the forwarding path failed");
    } else if to == State::Up {
        info!(%neighbor, %address, %from, %to, "BFD session up");
    } else {
        info!(%neighbor, %address, %from, %to, %diag, "BFD session state changed");
    }
}
