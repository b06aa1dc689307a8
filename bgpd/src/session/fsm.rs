//! The BGP session finite state machine (RFC 4271 section 8), sans-IO.
//!
//! ```text
//!            Input (event) ──► Session::handle(now, input) ──► Output queue ──► driver
//!   bytes from the socket ──► Session::feed_bytes(now, bytes)       (poll_output / drain)
//!     next_deadline() ───────► Session::handle_timeout(now)
//! ```
//!
//! One `Session` runs one peer over at most one TCP connection at a time. It never touches a
//! socket or a clock: the driver passes `now`, performs the [`Output`]s in order, and sleeps
//! until [`Session::next_deadline`]. Per-state behaviour is in `transitions.rs`.

use std::collections::vec_deque::Drain;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bgp_wire::notification::{cease, CEASE};
use bgp_wire::{
    decode, encode_to_bytes, kind, Context, EncodeError, Framer, Message, Notification, Open,
    MAX_MESSAGE_LEN,
};
use bytes::{Bytes, BytesMut};

use super::collision::Rival;
use super::config::SessionConfig;
use super::counters::Counters;
use super::event::{ConnectionRole, DownReason, Input, Output, State};
use super::negotiate::Negotiated;
use super::timers::{Jitter, Timers};

/// A configuration the FSM cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// RFC 4271 section 4.2: the hold time is 0 or at least 3 seconds.
    #[error("hold time must be 0 or at least 3 seconds, not {0}")]
    HoldTime(u16),
    /// Our OPEN does not encode (a graceful restart time over 4095 s, a host name over 255
    /// bytes, too many capabilities).
    #[error("cannot encode our OPEN: {0}")]
    Open(#[from] EncodeError),
}

/// A message the daemon wanted to send could not be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// UPDATE and ROUTE-REFRESH go only over an Established session.
    #[error("session is {0}, not established")]
    NotEstablished(State),
    /// The message does not fit the negotiated limits.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// One BGP session: the RFC 4271 section 8 state machine with its timers, negotiated
/// parameters, framing buffer and counters.
#[derive(Debug)]
pub struct Session {
    pub(super) config: SessionConfig,
    pub(super) local_open: Open,
    pub(super) local_open_bytes: Bytes,
    pub(super) state: State,
    /// ManualStart seen and no ManualStop since: automatic restarts are allowed.
    pub(super) admin_up: bool,
    /// Restart by itself after errors (false for a collision's extra incoming session).
    pub(super) auto_restart: bool,
    pub(super) passive: bool,
    pub(super) connection: Option<ConnectionRole>,
    pub(super) remote_open: Option<Open>,
    pub(super) negotiated: Option<Negotiated>,
    pub(super) framer: Framer,
    pub(super) buffer: BytesMut,
    pub(super) decode_ctx: Context,
    pub(super) encode_ctx: Context,
    pub(super) timers: Timers,
    /// The RFC's ConnectRetryCounter: consecutive failures, driving both backoffs.
    pub(super) failures: u32,
    pub(super) jitter: Jitter,
    pub(super) counters: Counters,
    pub(super) outputs: VecDeque<Output>,
    /// The peer's other connection during a collision (section 6.8).
    pub(super) rival: Option<Rival>,
}

impl Session {
    /// A session in Idle. Nothing happens until [`Input::Start`].
    pub fn new(config: SessionConfig) -> Result<Self, SessionError> {
        if config.hold_time == 1 || config.hold_time == 2 {
            return Err(SessionError::HoldTime(config.hold_time));
        }
        let local_open = config.build_open();
        let local_open_bytes =
            encode_to_bytes(&Message::Open(local_open.clone()), &Context::BASIC)?;
        Ok(Self {
            jitter: Jitter::new(config.jitter_seed),
            passive: config.passive,
            config,
            local_open,
            local_open_bytes,
            state: State::Idle,
            admin_up: false,
            auto_restart: true,
            connection: None,
            remote_open: None,
            negotiated: None,
            framer: Framer::new(),
            buffer: BytesMut::new(),
            decode_ctx: Context::BASIC,
            encode_ctx: Context::BASIC,
            timers: Timers::default(),
            failures: 0,
            counters: Counters::default(),
            outputs: VecDeque::new(),
            rival: None,
        })
    }

    /// A one-shot session for a connection the peer opened while the peer's main session
    /// already has one (a collision, RFC 4271 section 6.8): it starts in OpenSent with our
    /// OPEN queued, never connects, and stays Idle once it fails. Keep both sessions'
    /// [`Session::set_rival`] current; if this one emits `Output::CollisionWon`,
    /// [`Session::promote`] it (see `collision.rs`).
    pub fn incoming(config: SessionConfig, now: Instant) -> Result<Self, SessionError> {
        let mut s = Self::new(config)?;
        s.passive = true;
        s.auto_restart = false;
        s.handle(now, Input::Start);
        s.handle(now, Input::TcpConnected(ConnectionRole::Incoming));
        Ok(s)
    }

    /// Makes a collision's incoming session the peer's main session: it restarts on its
    /// own from now on, connects unless configured passive, and takes over the counters
    /// of the session it replaces.
    pub fn promote(&mut self, replaced: &Session) {
        self.passive = self.config.passive;
        self.auto_restart = true;
        self.counters.absorb(&replaced.counters);
    }

    /// Tells the session about the peer's other connection (RFC 4271 section 6.8), or that
    /// there is none. Checked when an OPEN arrives: see `collision.rs`.
    pub fn set_rival(&mut self, rival: Option<Rival>) {
        self.rival = rival;
    }

    /// Processes one event at `now`; read the results with [`Session::poll_output`].
    pub fn handle(&mut self, now: Instant, input: Input) {
        match input {
            Input::Start => self.on_start(now),
            Input::Stop {
                graceful,
                notification,
            } => self.on_stop(now, graceful, notification),
            Input::AutomaticStop { notification } => self.on_automatic_stop(now, notification),
            Input::TcpConnected(role) => self.on_tcp_connected(now, role),
            Input::TcpFailed => self.on_tcp_failed(now),
            Input::Message(msg) => self.on_message(now, msg),
            Input::DecodeError(e) => self.on_decode_error(now, e),
            Input::CollisionDump => self.on_collision_dump(now),
            Input::PathDown { source } => self.on_path_down(now, source),
            Input::PathUp => self.on_path_up(now),
        }
    }

    /// Fires every timer due at `now` (events 9 ConnectRetryTimer_Expires, 10
    /// HoldTimer_Expires, 11 KeepaliveTimer_Expires, 13 IdleHoldTimer_Expires), earliest
    /// first.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Each timer fires at most once per call; re-armed ones lie in the future.
        for _ in 0..8 {
            match self.timers.take_due(now) {
                Some(timer) => self.on_timer(now, timer),
                None => break,
            }
        }
    }

    /// Feeds bytes read from the connection: frames them, decodes each message with the
    /// negotiated context and handles it (events 19 to 28). A framing or decoding error
    /// sends its NOTIFICATION and closes; bytes after that are dropped.
    pub fn feed_bytes(&mut self, now: Instant, data: &[u8]) {
        if !self.state.has_connection() {
            return;
        }
        self.buffer.extend_from_slice(data);
        while self.state.has_connection() {
            match self.framer.next_message(&mut self.buffer) {
                Ok(Some(frame)) => match decode(&frame, &self.decode_ctx) {
                    Ok(msg) => self.handle(now, Input::Message(msg)),
                    // RFC 4271 section 6.4: an error in a NOTIFICATION is not answered.
                    Err(_) if frame.get(18) == Some(&kind::NOTIFICATION) => {
                        self.notification_error(now);
                    }
                    Err(e) => self.handle(now, Input::DecodeError(e)),
                },
                Ok(None) => break,
                Err(e) => self.handle(now, Input::DecodeError(e)),
            }
        }
        // Between messages (almost always, for an idle session) nothing is held: hundreds
        // of sessions each keeping a buffer of their last read add up.
        if self.buffer.is_empty() && self.buffer.capacity() != 0 {
            self.buffer = BytesMut::new();
        }
    }

    /// Encodes and queues an UPDATE, ROUTE-REFRESH or KEEPALIVE over the Established
    /// session, with the negotiated encode context. Sending an UPDATE or KEEPALIVE restarts
    /// the KeepaliveTimer (RFC 4271 section 4.4).
    pub fn send_message(&mut self, now: Instant, msg: &Message) -> Result<(), SendError> {
        if self.state != State::Established {
            return Err(SendError::NotEstablished(self.state));
        }
        let bytes = encode_to_bytes(msg, &self.encode_ctx)?;
        self.counters.messages_out.add(msg.kind(), 1);
        self.outputs.push_back(Output::Send(bytes));
        if matches!(msg, Message::Update(_) | Message::Keepalive) {
            self.arm_keepalive(now);
        }
        Ok(())
    }

    /// Tells the FSM that the driver wrote `count` UPDATEs it encoded elsewhere (an export
    /// group's shared bytes): counts them and restarts the KeepaliveTimer.
    pub fn updates_sent(&mut self, now: Instant, count: u64) {
        self.counters.messages_out.add(kind::UPDATE, count);
        if self.state == State::Established && count > 0 {
            self.arm_keepalive(now);
        }
    }

    /// The next output, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.outputs.pop_front();
        if out.is_none() && self.outputs.capacity() != 0 {
            // Drained: an idle session holds no queue.
            self.outputs = VecDeque::new();
        }
        out
    }

    /// Every pending output, in order.
    pub fn drain(&mut self) -> Drain<'_, Output> {
        self.outputs.drain(..)
    }

    /// When [`Session::handle_timeout`] should next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The negotiated parameters, in OpenConfirm and Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Who opened the current connection, if there is one.
    pub fn connection_role(&self) -> Option<ConnectionRole> {
        self.connection
    }

    /// The OPEN we send.
    pub fn local_open(&self) -> &Open {
        &self.local_open
    }

    /// The peer's OPEN on the current connection, once received.
    pub fn remote_open(&self) -> Option<&Open> {
        self.remote_open.as_ref()
    }

    /// The running timers' deadlines.
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Whether the session is administratively up (started and not stopped).
    pub fn is_admin_up(&self) -> bool {
        self.admin_up
    }

    /// The context for decoding what the peer sends (basic until the OPEN exchange).
    pub fn decode_context(&self) -> &Context {
        &self.decode_ctx
    }

    /// The context for encoding what we send (basic until the OPEN exchange).
    pub fn encode_context(&self) -> &Context {
        &self.encode_ctx
    }

    // ---- helpers shared by the transitions ----

    pub(super) fn set_state(&mut self, now: Instant, to: State) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.counters.last_state_change = Some(now);
            self.outputs.push_back(Output::StateChange { from, to });
        }
    }

    /// Encodes and queues a message of the OPEN exchange (KEEPALIVE, NOTIFICATION).
    pub(super) fn send(&mut self, msg: &Message) {
        if let Ok(bytes) = encode_to_bytes(msg, &self.encode_ctx) {
            self.counters.messages_out.add(msg.kind(), 1);
            self.outputs.push_back(Output::Send(bytes));
        }
    }

    /// Queues a NOTIFICATION, its data cut to fit one message.
    pub(super) fn send_notification(&mut self, n: &Notification) {
        let mut n = n.clone();
        let room = MAX_MESSAGE_LEN - 21;
        if n.data.len() > room {
            n.data.truncate(room);
        }
        self.send(&Message::Notification(n));
    }

    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        self.timers.keepalive = self
            .negotiated
            .as_ref()
            .filter(|n| n.keepalive > 0)
            .map(|n| now + Duration::from_secs(u64::from(n.keepalive)));
    }

    pub(super) fn arm_hold(&mut self, now: Instant) {
        self.timers.hold = self
            .negotiated
            .as_ref()
            .filter(|n| n.hold_time > 0)
            .map(|n| now + Duration::from_secs(u64::from(n.hold_time)));
    }

    pub(super) fn arm_connect_retry(&mut self, now: Instant) {
        let delay = self
            .jitter
            .apply(self.config.connect_retry.delay(self.failures));
        self.timers.connect_retry = Some(now + delay);
    }

    /// Starts an outgoing connection attempt.
    pub(super) fn connect(&mut self, now: Instant) {
        self.counters.connect_attempts = self.counters.connect_attempts.saturating_add(1);
        self.outputs.push_back(Output::Connect);
        self.arm_connect_retry(now);
    }

    /// Ends the connection: reports `Down` if it had reached OpenSent, asks the driver to
    /// close, and forgets everything negotiated. The caller picks the next state.
    pub(super) fn close(&mut self, now: Instant, reason: DownReason) {
        self.close_with(now, reason, None);
    }

    /// [`Session::close`], with `retain` overriding the graceful restart rules.
    pub(super) fn close_with(&mut self, now: Instant, reason: DownReason, retain: Option<bool>) {
        let was_established = self.state == State::Established;
        if self.state.has_connection() {
            let retain_routes =
                was_established && retain.unwrap_or_else(|| self.retains_routes(&reason));
            if was_established {
                self.counters.flaps = self.counters.flaps.saturating_add(1);
                // A session that stayed up longer than the longest backoff starts afresh.
                let stable = self
                    .counters
                    .uptime(now)
                    .is_some_and(|up| up >= self.config.idle_hold.max);
                if stable {
                    self.failures = 0;
                }
                self.counters.established_since = None;
            }
            self.counters.last_error = Some((now, reason.clone()));
            self.outputs.push_back(Output::Down {
                reason,
                was_established,
                retain_routes,
            });
        }
        self.outputs.push_back(Output::CloseConnection);
        self.connection = None;
        self.remote_open = None;
        self.negotiated = None;
        self.timers.stop_connection_timers();
        self.framer = Framer::new();
        self.buffer.clear();
        self.decode_ctx = Context::BASIC;
        self.encode_ctx = Context::BASIC;
    }

    /// RFC 4724 section 4.2: the peer's routes are kept when the connection ends without a
    /// NOTIFICATION; RFC 8538 section 4: with the N bit, also after any NOTIFICATION but
    /// Cease / Hard Reset.
    fn retains_routes(&self, reason: &DownReason) -> bool {
        let Some(n) = &self.negotiated else {
            return false;
        };
        if !n.graceful_restart {
            return false;
        }
        match reason {
            DownReason::ConnectionLost | DownReason::GracefulStop => true,
            DownReason::PathDown { .. } => false,
            DownReason::NotificationSent { notification, .. }
            | DownReason::NotificationReceived(notification) => {
                n.graceful_notification && !is_hard_reset(notification)
            }
        }
    }

    /// Goes Idle after an error and, unless stopped, arms the IdleHoldTimer for the
    /// automatic restart (RFC 4271 section 8.1.1, DampPeerOscillations): the backoff, or at
    /// least `at_least`.
    pub(super) fn idle_after_error(&mut self, now: Instant, at_least: Option<Duration>) {
        let delay = self
            .jitter
            .apply(self.config.idle_hold.delay(self.failures));
        let delay = at_least.map_or(delay, |min| delay.max(min));
        self.failures = self.failures.saturating_add(1);
        self.timers.connect_retry = None;
        self.timers.idle_hold = (self.admin_up && self.auto_restart).then(|| now + delay);
        if !self.auto_restart {
            self.admin_up = false;
        }
        self.set_state(now, State::Idle);
    }
}

/// Cease / Hard Reset (RFC 8538 section 3).
pub(super) fn is_hard_reset(n: &Notification) -> bool {
    n.code == CEASE && n.subcode == cease::HARD_RESET
}

/// Wraps a NOTIFICATION in Cease / Hard Reset: the data is the original code, subcode and
/// data (RFC 8538 section 3).
pub fn hard_reset(inner: &Notification) -> Notification {
    if is_hard_reset(inner) {
        return inner.clone();
    }
    let mut data = BytesMut::with_capacity(2 + inner.data.len());
    data.extend_from_slice(&[inner.code, inner.subcode]);
    data.extend_from_slice(&inner.data);
    Notification::new(CEASE, cease::HARD_RESET, data.freeze())
}

/// The Cease subcodes RFC 8538 section 5 says to send as Hard Reset: Maximum Number of
/// Prefixes Reached, Administrative Shutdown, Peer De-configured, and (our choice for the
/// "provider decision") Administrative Reset.
pub(super) fn wants_hard_reset(n: &Notification) -> bool {
    n.code == CEASE
        && matches!(
            n.subcode,
            cease::MAX_PREFIXES
                | cease::ADMIN_SHUTDOWN
                | cease::PEER_DECONFIGURED
                | cease::ADMIN_RESET
        )
}

/// A Cease that asks us to stay away for a while (max-prefix, administrative shutdown,
/// de-configured), possibly inside a Hard Reset.
pub(super) fn is_long_cease(n: &Notification) -> bool {
    let (code, subcode) = if is_hard_reset(n) {
        match n.data.as_ref() {
            [code, subcode, ..] => (*code, *subcode),
            _ => return false,
        }
    } else {
        (n.code, n.subcode)
    };
    code == CEASE
        && matches!(
            subcode,
            cease::MAX_PREFIXES | cease::ADMIN_SHUTDOWN | cease::PEER_DECONFIGURED
        )
}
