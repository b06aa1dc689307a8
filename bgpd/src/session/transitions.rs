//! What each event does in each state: RFC 4271 section 8.2.2, event by event.
//!
//! Deviations, on purpose: no DelayOpenTimer (events 12, 20); a connection moves the
//! session from Connect or Active straight to OpenSent, so "Active with a connection" never
//! exists; TcpConnectionFails in OpenSent goes to Active as the RFC says, elsewhere to Idle
//! with the IdleHoldTimer (automatic restart with backoff, section 8.1.1).

use std::time::{Duration, Instant};

use bgp_wire::notification::{cease, CEASE, FSM_ERROR, HOLD_TIMER_EXPIRED};
use bgp_wire::{DecodeError, ErrorHandling, Message, Notification, Open, Reason};
use bytes::Bytes;

use super::collision::keeps_connection;
use super::event::{ConnectionRole, DownReason, Output, State};
use super::fsm::{hard_reset, is_long_cease, wants_hard_reset, Session};
use super::negotiate::negotiate;
use super::timers::Timer;

impl Session {
    /// Events 1/3/4/5: ManualStart and AutomaticStart, passive or not.
    pub(super) fn on_start(&mut self, now: Instant) {
        if self.state != State::Idle {
            return; // RFC 4271 section 8.2.2: ignored in every other state.
        }
        self.admin_up = true;
        self.automatic_start(now);
    }

    fn automatic_start(&mut self, now: Instant) {
        self.timers.idle_hold = None;
        if self.passive {
            self.timers.connect_retry = None;
            self.set_state(now, State::Active);
        } else {
            self.connect(now);
            self.set_state(now, State::Connect);
        }
    }

    /// Event 2: ManualStop.
    pub(super) fn on_stop(
        &mut self,
        now: Instant,
        graceful: bool,
        notification: Option<Notification>,
    ) {
        self.admin_up = false;
        self.failures = 0;
        if self.state.has_connection() {
            let gr = self.negotiated.as_ref().is_some_and(|n| n.graceful_restart);
            if graceful && gr {
                // RFC 4724 section 4: no NOTIFICATION, so the peer keeps our routes.
                self.close(now, DownReason::GracefulStop);
            } else {
                let n = notification.unwrap_or_else(|| {
                    Notification::new(CEASE, cease::ADMIN_SHUTDOWN, Bytes::new())
                });
                // RFC 8538 section 3: a deliberate stop must not look graceful.
                let n_bit = self
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.graceful_notification);
                let n = if n_bit && !graceful {
                    hard_reset(&n)
                } else {
                    n
                };
                self.send_notification(&n);
                self.close(
                    now,
                    DownReason::NotificationSent {
                        notification: n,
                        detail: "administrative stop".to_owned(),
                    },
                );
            }
        } else if self.state == State::Connect {
            self.outputs.push_back(Output::CloseConnection);
        }
        self.timers.stop_all();
        self.set_state(now, State::Idle);
    }

    /// Event 8: AutomaticStop (max-prefix and the like).
    pub(super) fn on_automatic_stop(&mut self, now: Instant, notification: Notification) {
        let hold = Some(self.config.idle_hold_after_cease);
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                if self.state == State::Connect {
                    self.outputs.push_back(Output::CloseConnection);
                }
                self.idle_after_error(now, hold);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                let n_bit = self
                    .negotiated
                    .as_ref()
                    .is_some_and(|n| n.graceful_notification);
                let n = if n_bit && wants_hard_reset(&notification) {
                    hard_reset(&notification)
                } else {
                    notification
                };
                self.send_notification(&n);
                self.close(
                    now,
                    DownReason::NotificationSent {
                        notification: n,
                        detail: "automatic stop".to_owned(),
                    },
                );
                self.idle_after_error(now, hold);
            }
        }
    }

    /// Events 16/17: Tcp_CR_Acked, TcpConnectionConfirmed.
    pub(super) fn on_tcp_connected(&mut self, now: Instant, role: ConnectionRole) {
        match self.state {
            // RFC 4271 section 8.2.2 Idle: "refuses all incoming BGP connections".
            State::Idle => self.outputs.push_back(Output::CloseConnection),
            State::Connect | State::Active => {
                self.connection = Some(role);
                self.timers.connect_retry = None;
                self.counters.messages_out.add(bgp_wire::kind::OPEN, 1);
                self.outputs
                    .push_back(Output::Send(self.local_open_bytes.clone()));
                // Section 8.2.2: "a large value ... 4 minutes" until the OPEN arrives.
                self.timers.hold = Some(now + self.config.open_hold_time);
                self.set_state(now, State::OpenSent);
            }
            // A second connection: the driver runs `Session::incoming` for it.
            State::OpenSent | State::OpenConfirm | State::Established => {}
        }
    }

    /// Event 18: TcpConnectionFails.
    pub(super) fn on_tcp_failed(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Active => {}
            State::Connect => {
                self.failures = self.failures.saturating_add(1);
                self.arm_connect_retry(now);
                self.set_state(now, State::Active);
            }
            State::OpenSent if self.auto_restart => {
                // Section 8.2.2 OpenSent: close, restart ConnectRetryTimer, go Active.
                self.close(now, DownReason::ConnectionLost);
                self.failures = self.failures.saturating_add(1);
                if self.passive {
                    self.timers.connect_retry = None;
                } else {
                    self.arm_connect_retry(now);
                }
                self.set_state(now, State::Active);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.close(now, DownReason::ConnectionLost);
                self.idle_after_error(now, None);
            }
        }
    }

    /// A liveness monitor says the forwarding path is down (not an RFC 4271 event; RFC 5882
    /// section 4.3): the connection is closed without NOTIFICATION, the peer's routes are
    /// not retained, and the session goes Idle until its backoff restarts it.
    pub(super) fn on_path_down(&mut self, now: Instant, source: &'static str) {
        match self.state {
            // No connection to lose; an attempt in progress fails on its own if the path
            // is dead.
            State::Idle | State::Connect | State::Active => {}
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.close_with(now, DownReason::PathDown { source }, Some(false));
                self.idle_after_error(now, None);
            }
        }
    }

    /// The path works again: a pending retry (the IdleHoldTimer's automatic restart, or
    /// the ConnectRetryTimer) fires now. Nothing else changes: a stopped session stays
    /// stopped, a passive one keeps waiting.
    pub(super) fn on_path_up(&mut self, now: Instant) {
        let timer = match self.state {
            State::Idle => &mut self.timers.idle_hold,
            State::Connect | State::Active => &mut self.timers.connect_retry,
            State::OpenSent | State::OpenConfirm | State::Established => return,
        };
        if timer.is_some_and(|t| t > now) {
            *timer = Some(now);
        }
    }

    /// Event 23: OpenCollisionDump.
    pub(super) fn on_collision_dump(&mut self, now: Instant) {
        if !self.state.has_connection() {
            return;
        }
        let n = Notification::new(CEASE, cease::CONNECTION_COLLISION, Bytes::new());
        self.send_notification(&n);
        // An Established session loses only to a restarted peer (RFC 4724 section 4.2).
        let gr = self.negotiated.as_ref().is_some_and(|n| n.graceful_restart);
        self.close_with(
            now,
            DownReason::NotificationSent {
                notification: n,
                detail: "connection collision".to_owned(),
            },
            Some(gr),
        );
        self.timers.stop_all();
        self.admin_up = self.admin_up && self.auto_restart;
        self.set_state(now, State::Idle);
    }

    /// Events 9, 10, 11, 13.
    pub(super) fn on_timer(&mut self, now: Instant, timer: Timer) {
        match (timer, self.state) {
            (Timer::Hold, s) if s.has_connection() => {
                // Section 6.5: Hold Timer Expired.
                self.fail(
                    now,
                    Notification::new(HOLD_TIMER_EXPIRED, 0, Bytes::new()),
                    "hold timer expired".to_owned(),
                );
            }
            (Timer::Keepalive, State::OpenConfirm | State::Established) => {
                self.send(&Message::Keepalive);
                self.arm_keepalive(now);
            }
            (Timer::ConnectRetry, State::Connect) => {
                // The attempt took too long: abandon it and try again.
                self.failures = self.failures.saturating_add(1);
                self.connect(now);
            }
            (Timer::ConnectRetry, State::Active) if !self.passive => {
                self.connect(now);
                self.set_state(now, State::Connect);
            }
            (Timer::IdleHold, State::Idle) if self.admin_up => self.automatic_start(now),
            _ => {}
        }
    }

    /// Events 19, 24-27 and ROUTE-REFRESH.
    pub(super) fn on_message(&mut self, now: Instant, msg: Message) {
        self.counters.messages_in.add(msg.kind(), 1);
        match self.state {
            State::Idle => {}
            State::Connect | State::Active => {
                // No connection should exist: section 8.2.2 says drop it and go Idle.
                self.outputs.push_back(Output::CloseConnection);
                self.idle_after_error(now, None);
            }
            State::OpenSent => match msg {
                Message::Open(open) => self.on_open(now, open),
                Message::Notification(n) => self.on_notification(now, n),
                other => self.fsm_error(now, 1, &other),
            },
            State::OpenConfirm => match msg {
                Message::Keepalive => self.on_established(now),
                Message::Notification(n) => self.on_notification(now, n),
                other => self.fsm_error(now, 2, &other),
            },
            State::Established => {
                self.arm_hold(now);
                match msg {
                    Message::Keepalive => {}
                    Message::Update(u) => self.outputs.push_back(Output::Update(Box::new(u))),
                    Message::RouteRefresh(r) => {
                        // RFC 2918 section 4: ignore a family not negotiated.
                        let known = self
                            .negotiated
                            .as_ref()
                            .is_some_and(|n| n.families.contains(&r.family));
                        if known {
                            self.outputs.push_back(Output::RouteRefresh(r));
                        }
                    }
                    Message::Notification(n) => self.on_notification(now, n),
                    other @ Message::Open(_) => self.fsm_error(now, 3, &other),
                }
            }
        }
    }

    /// Event 19 BGPOpen in OpenSent: check, negotiate, KEEPALIVE, OpenConfirm.
    fn on_open(&mut self, now: Instant, open: Open) {
        match negotiate(&self.config, &self.local_open, &open) {
            Ok(negotiated) => {
                // Section 6.8: the collision check comes before any KEEPALIVE.
                if let (Some(rival), Some(mine)) = (self.rival, self.connection) {
                    if !keeps_connection(&self.config, mine, &open, rival, now) {
                        self.on_collision_dump(now);
                        return;
                    }
                    self.outputs.push_back(Output::CollisionWon);
                }
                self.decode_ctx = negotiated.decode;
                self.encode_ctx = negotiated.encode;
                self.framer.set_context(&negotiated.decode);
                self.remote_open = Some(open);
                self.negotiated = Some(negotiated);
                self.timers.connect_retry = None;
                self.send(&Message::Keepalive);
                self.arm_hold(now);
                self.arm_keepalive(now);
                self.set_state(now, State::OpenConfirm);
            }
            Err(rejected) => self.fail(now, rejected.notification, rejected.reason),
        }
    }

    /// Event 26 KeepAliveMsg in OpenConfirm.
    fn on_established(&mut self, now: Instant) {
        self.arm_hold(now);
        self.counters.established = self.counters.established.saturating_add(1);
        self.counters.established_since = Some(now);
        self.set_state(now, State::Established);
        if let Some(n) = &self.negotiated {
            self.outputs
                .push_back(Output::Established(Box::new(n.clone())));
        }
    }

    /// Events 24/25: a NOTIFICATION from the peer ends the connection.
    fn on_notification(&mut self, now: Instant, n: Notification) {
        let long = is_long_cease(&n).then_some(self.config.idle_hold_after_cease);
        self.close(now, DownReason::NotificationReceived(n));
        self.idle_after_error(now, long);
    }

    /// Events 21, 22, 28: a message that failed to frame or decode.
    pub(super) fn on_decode_error(&mut self, now: Instant, e: DecodeError) {
        if !self.state.has_connection() {
            return;
        }
        match e.action {
            // RFC 7606: these never reset; `bgp-wire` reports them inside the UPDATE.
            ErrorHandling::TreatAsWithdraw | ErrorHandling::AttributeDiscard => {}
            ErrorHandling::SessionReset | ErrorHandling::AfiSafiDisable(_) => {
                if e.reason == Reason::MalformedNotification {
                    self.notification_error(now);
                } else {
                    self.fail(now, e.notification(), e.to_string());
                }
            }
        }
    }

    /// A NOTIFICATION that does not decode: no NOTIFICATION answers it, the connection
    /// just closes (RFC 4271 section 6.4).
    pub(super) fn notification_error(&mut self, now: Instant) {
        self.counters
            .messages_in
            .add(bgp_wire::kind::NOTIFICATION, 1);
        self.close(now, DownReason::ConnectionLost);
        self.idle_after_error(now, None);
    }

    /// RFC 6608: an unexpected message; the data is its type.
    fn fsm_error(&mut self, now: Instant, subcode: u8, msg: &Message) {
        let n = Notification::new(FSM_ERROR, subcode, Bytes::copy_from_slice(&[msg.kind()]));
        let detail = format!("unexpected {} in {}", msg.kind_name(), self.state);
        self.fail(now, n, detail);
    }

    /// Sends a NOTIFICATION, closes and goes Idle with the backoff.
    fn fail(&mut self, now: Instant, n: Notification, detail: String) {
        self.send_notification(&n);
        self.close(
            now,
            DownReason::NotificationSent {
                notification: n,
                detail,
            },
        );
        self.idle_after_error(now, None::<Duration>);
    }
}
