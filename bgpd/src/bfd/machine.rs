//! One BFD session, sans I/O (RFC 5880 asynchronous mode, active role, no echo, no demand):
//! fed received packets and the time, it says when to send what and when its state changes.
//! The caller (`task.rs`) owns the sockets and the clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use config::Bfd;

use super::packet::{from_micros, to_micros, ControlPacket, Diag, State};
use super::resume::Suspended;

/// The transmit interval while the session is not Up (RFC 5880 section 6.8.3: "not less
/// than one second").
pub const SLOW_TX: Duration = Duration::from_secs(1);

/// A state change, for the logs, the metrics and the BGP session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state now.
    pub to: State,
    /// Our diagnostic: why it went down.
    pub diag: Diag,
    /// The forwarding path failed: the session left Up for another reason than either side
    /// taking it administratively down (RFC 5882 section 3.2: a neighbor's AdminDown must not
    /// be taken as a failure). The BGP session over the path goes down at once.
    pub path_failed: bool,
}

/// What `bgpctl show bfd` and the metrics see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `bfd.SessionState`.
    pub state: State,
    /// `bfd.RemoteSessionState`.
    pub remote_state: State,
    /// `bfd.LocalDiscr`.
    pub local_discriminator: u32,
    /// `bfd.RemoteDiscr` (0 until the neighbor is heard).
    pub remote_discriminator: u32,
    /// `bfd.LocalDiag`.
    pub diag: Diag,
    /// The neighbor's last diagnostic.
    pub remote_diag: Diag,
    /// The interval between our periodic packets now (before jitter).
    pub tx_interval: Duration,
    /// The Required Min RX Interval in effect.
    pub rx_interval: Duration,
    /// Our Detect Mult.
    pub multiplier: u8,
    /// The neighbor's Detect Mult (0 until heard).
    pub remote_multiplier: u8,
    /// The neighbor's Required Min RX Interval.
    pub remote_min_rx: Duration,
    /// How long without a packet before we declare the session down; `None` until the
    /// neighbor is heard.
    pub detect_time: Option<Duration>,
    /// Since when the session is Up.
    pub up_since: Option<Instant>,
    /// Times the session left Up.
    pub flaps: u64,
    /// State changes of any kind.
    pub state_changes: u64,
    /// Packets accepted.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// One BFD session's state (RFC 5880 section 6.8.1).
#[derive(Debug)]
pub struct Session {
    settings: Bfd,
    /// The Detect Mult we send: the configured one, but while suspending for a restart.
    multiplier: u8,
    state: State,
    remote_state: State,
    local_discriminator: u32,
    remote_discriminator: u32,
    diag: Diag,
    remote_diag: Diag,
    /// `bfd.DesiredMinTxInterval` as advertised.
    desired_min_tx: Duration,
    /// `bfd.RequiredMinRxInterval` as advertised.
    required_min_rx: Duration,
    /// The desired TX interval our own sending uses: an increase waits for the Poll
    /// Sequence to end (section 6.8.3).
    tx_in_use: Duration,
    /// The RX interval our detection time uses: a reduction waits for the Poll Sequence.
    rx_in_use: Duration,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_multiplier: u8,
    /// A Poll Sequence is in progress: our packets carry P until a Final arrives.
    polling: bool,
    /// A Poll arrived: the next packet carries F, and goes out now.
    final_due: bool,
    /// Something the neighbor should learn changed: send a packet now (section 6.8.7).
    send_now: bool,
    next_tx: Instant,
    detect_deadline: Option<Instant>,
    changes: VecDeque<Transition>,
    /// Jitter source (xorshift64; BFD's jitter needs no cryptographic quality).
    rng: u64,
    up_since: Option<Instant>,
    flaps: u64,
    state_changes: u64,
    packets_in: u64,
    packets_out: u64,
    /// The time of the last call, for [`Session::next_deadline`] when a packet is due now.
    last_now: Instant,
}

impl Session {
    /// A new session in Down, sending at the slow rate from `now`. `local_discriminator`
    /// must be nonzero and unique among the caller's sessions.
    pub fn new(settings: Bfd, local_discriminator: u32, now: Instant) -> Session {
        let slow = settings.min_tx.max(SLOW_TX);
        Session {
            settings,
            multiplier: settings.multiplier,
            state: State::Down,
            remote_state: State::Down,
            local_discriminator,
            remote_discriminator: 0,
            diag: Diag::NONE,
            remote_diag: Diag::NONE,
            desired_min_tx: slow,
            required_min_rx: settings.min_rx,
            tx_in_use: slow,
            rx_in_use: settings.min_rx,
            // Section 6.8.1: initialised to 1 (µs).
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_multiplier: 0,
            polling: false,
            final_due: false,
            send_now: true,
            next_tx: now,
            detect_deadline: None,
            changes: VecDeque::new(),
            rng: u64::from(local_discriminator) | 0x9e37_79b9_0000_0000,
            up_since: None,
            flaps: 0,
            state_changes: 0,
            packets_in: 0,
            packets_out: 0,
            last_now: now,
        }
    }

    /// `bfd.SessionState`.
    pub fn state(&self) -> State {
        self.state
    }

    /// `bfd.LocalDiscr`.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    /// The settings in force.
    pub fn settings(&self) -> Bfd {
        self.settings
    }

    /// A received packet that passed the checks of [`ControlPacket::decode`] and was matched
    /// to this session (section 6.8.6, from "If the A bit is set" on; authentication is the
    /// caller's).
    pub fn receive(&mut self, now: Instant, p: &ControlPacket) {
        self.last_now = now;
        self.packets_in += 1;
        self.remote_discriminator = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_diag = p.diag;
        self.remote_multiplier = p.detect_mult;
        self.remote_desired_min_tx = from_micros(p.desired_min_tx_us);
        let remote_min_rx = from_micros(p.required_min_rx_us);
        if remote_min_rx != self.remote_min_rx {
            self.remote_min_rx = remote_min_rx;
            // A faster rate asked for takes effect now, not after the old interval.
            self.reschedule(now);
        }
        if p.final_ && self.polling {
            self.polling = false;
            self.tx_in_use = self.desired_min_tx;
            self.rx_in_use = self.required_min_rx;
            self.reschedule(now);
        }
        self.detect_deadline = Some(now + self.detection_time());
        if self.state == State::AdminDown {
            return;
        }
        match (self.state, p.state) {
            (State::Down, _) if p.state == State::AdminDown => {}
            (_, State::AdminDown) => self.go(now, State::Down, Diag::NEIGHBOR_DOWN),
            (State::Down, State::Down) => self.go(now, State::Init, Diag::NONE),
            (State::Down, State::Init) => self.go(now, State::Up, Diag::NONE),
            (State::Init, State::Init | State::Up) => self.go(now, State::Up, Diag::NONE),
            (State::Up, State::Down) => self.go(now, State::Down, Diag::NEIGHBOR_DOWN),
            _ => {}
        }
        if p.poll {
            self.final_due = true;
        }
    }

    /// New settings (a reload): applied through a Poll Sequence when the session is Up, with
    /// no change of state (section 6.8.3).
    pub fn configure(&mut self, now: Instant, settings: Bfd) {
        self.last_now = now;
        if settings == self.settings {
            return;
        }
        self.settings = settings;
        self.multiplier = settings.multiplier;
        self.advertise(settings.min_tx, settings.min_rx);
        self.send_now = true;
        self.reschedule(now);
    }

    /// Takes the session administratively down (`true`) or back (`false`): the neighbor is
    /// told (state AdminDown, diagnostic 7) and must not treat it as a failure.
    pub fn set_admin_down(&mut self, now: Instant, down: bool) {
        self.last_now = now;
        match (down, self.state) {
            (true, State::AdminDown) | (false, State::Down | State::Init | State::Up) => {}
            (true, _) => self.go(now, State::AdminDown, Diag::ADMIN_DOWN),
            (false, State::AdminDown) => self.go(now, State::Down, Diag::ADMIN_DOWN),
        }
    }

    /// Before a graceful restart: asks the neighbor, through a Poll Sequence, to give us
    /// `multiplier` × `tx` before it declares the session down (our Desired Min TX and Detect
    /// Mult, RFC 5880 section 6.8.3), so that the next run can take the session over. Only
    /// for an Up session; [`Session::polling`] says when the Final has come.
    pub fn stretch(&mut self, now: Instant, tx: Duration, multiplier: u8) {
        self.last_now = now;
        if self.state != State::Up {
            return;
        }
        self.multiplier = multiplier;
        self.advertise(tx, self.required_min_rx);
        self.polling = true;
        self.send_now = true;
    }

    /// A Poll Sequence is in progress.
    pub fn polling(&self) -> bool {
        self.polling
    }

    /// The session as the next run needs it to continue, if it is Up.
    pub fn suspended(&self, address: std::net::IpAddr, multihop: bool) -> Option<Suspended> {
        (self.state == State::Up).then(|| Suspended {
            address,
            local_discriminator: self.local_discriminator,
            remote_discriminator: self.remote_discriminator,
            remote_min_rx_us: to_micros(self.remote_min_rx),
            remote_desired_min_tx_us: to_micros(self.remote_desired_min_tx),
            remote_multiplier: self.remote_multiplier,
            desired_min_tx_us: to_micros(self.desired_min_tx),
            multiplier: self.multiplier,
            required_min_rx_us: to_micros(self.required_min_rx),
            multihop,
            auth_seq: None,
        })
    }

    /// A session the previous run suspended, continued Up from `now`: the neighbor keeps
    /// hearing the same discriminators before its detection time runs out. Our timers go
    /// back to `settings` through a Poll Sequence.
    pub fn resumed(settings: Bfd, s: &Suspended, now: Instant) -> Session {
        let mut session = Session::new(settings, s.local_discriminator, now);
        let tx = from_micros(s.desired_min_tx_us);
        session.state = State::Up;
        session.remote_state = State::Up;
        session.up_since = Some(now);
        session.remote_discriminator = s.remote_discriminator;
        session.remote_min_rx = from_micros(s.remote_min_rx_us);
        session.remote_desired_min_tx = from_micros(s.remote_desired_min_tx_us);
        session.remote_multiplier = s.remote_multiplier;
        session.desired_min_tx = tx;
        session.tx_in_use = tx;
        // The neighbor sends at the rate the previous run asked for until it answers our
        // Poll: a faster RX only counts after the Final (section 6.8.3).
        if s.required_min_rx_us != 0 {
            session.required_min_rx = from_micros(s.required_min_rx_us);
            session.rx_in_use = session.required_min_rx;
        }
        session.detect_deadline = Some(now + session.detection_time());
        session.advertise(settings.min_tx, settings.min_rx);
        session
    }

    /// The next state change since the last call.
    pub fn next_change(&mut self) -> Option<Transition> {
        self.changes.pop_front()
    }

    /// Advances to `now`: the detection timer, then the packet to send if one is due.
    pub fn poll(&mut self, now: Instant) -> Option<ControlPacket> {
        self.last_now = now;
        if self.detect_deadline.is_some_and(|d| now >= d) {
            self.detect_deadline = None;
            // Section 6.8.1: bfd.RemoteDiscr is zeroed when a Detection Time passes unheard.
            self.remote_discriminator = 0;
            self.remote_state = State::Down;
            if matches!(self.state, State::Init | State::Up) {
                self.go(now, State::Down, Diag::DETECTION_TIME_EXPIRED);
            }
        }
        if self.final_due {
            // Section 6.8.7: a Final goes out at once, never with P set.
            self.final_due = false;
            return Some(self.packet(false, true));
        }
        if self.send_now || (self.periodic() && now >= self.next_tx) {
            self.send_now = false;
            self.next_tx = now + self.jittered(self.tx_interval());
            return Some(self.packet(self.polling, false));
        }
        None
    }

    /// When [`Session::poll`] must be called next (the caller calls it until it returns
    /// `None` after every input, so a packet due at once is already sent).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.final_due || self.send_now {
            return Some(self.last_now);
        }
        let tx = self.periodic().then_some(self.next_tx);
        match (tx, self.detect_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The packet the session would send now, outside its schedule (to repeat an AdminDown
    /// on shutdown).
    pub fn current_packet(&mut self) -> ControlPacket {
        self.packet(false, false)
    }

    /// What `bgpctl` and the metrics see.
    pub fn status(&self) -> Status {
        Status {
            state: self.state,
            remote_state: self.remote_state,
            local_discriminator: self.local_discriminator,
            remote_discriminator: self.remote_discriminator,
            diag: self.diag,
            remote_diag: self.remote_diag,
            tx_interval: self.tx_interval(),
            rx_interval: self.rx_in_use,
            multiplier: self.multiplier,
            remote_multiplier: self.remote_multiplier,
            remote_min_rx: self.remote_min_rx,
            detect_time: (self.remote_multiplier > 0).then(|| self.detection_time()),
            up_since: self.up_since,
            flaps: self.flaps,
            state_changes: self.state_changes,
            packets_in: self.packets_in,
            packets_out: self.packets_out,
        }
    }

    /// Section 6.8.4: the neighbor's Detect Mult times the larger of the rate we asked for
    /// and the rate it said it wants to send at.
    fn detection_time(&self) -> Duration {
        self.rx_in_use.max(self.remote_desired_min_tx) * u32::from(self.remote_multiplier)
    }

    /// Section 6.8.7: the larger of our desired rate and the neighbor's required one.
    fn tx_interval(&self) -> Duration {
        self.tx_in_use.max(self.remote_min_rx)
    }

    /// Periodic packets are sent unless the neighbor asked for none (section 6.8.7).
    fn periodic(&self) -> bool {
        !self.remote_min_rx.is_zero()
    }

    /// Section 6.8.7: each interval is reduced by a random 0-25 % (10-25 % with a Detect
    /// Mult of 1, so that one late packet is not a detection).
    fn jittered(&mut self, interval: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let (lo, span) = if self.multiplier == 1 {
            (75, 15)
        } else {
            (75, 25)
        };
        let percent = lo + u32::try_from(self.rng % (span + 1)).unwrap_or(0);
        interval * percent / 100
    }

    /// A shorter interval takes effect now rather than after the pending, longer one.
    fn reschedule(&mut self, now: Instant) {
        let interval = self.tx_interval();
        if self.next_tx > now + interval {
            self.next_tx = now + self.jittered(interval);
        }
    }

    /// Changes what we advertise (section 6.8.3): while Up, through a Poll Sequence, a faster
    /// TX and a slower RX take effect at once, the others when the Final arrives.
    fn advertise(&mut self, min_tx: Duration, min_rx: Duration) {
        let tx = if self.state == State::Up {
            min_tx
        } else {
            min_tx.max(SLOW_TX)
        };
        if tx == self.desired_min_tx && min_rx == self.required_min_rx {
            return;
        }
        self.desired_min_tx = tx;
        self.required_min_rx = min_rx;
        if self.state == State::Up {
            self.polling = true;
            self.tx_in_use = self.tx_in_use.min(tx);
            self.rx_in_use = self.rx_in_use.max(min_rx);
        } else {
            self.polling = false;
            self.tx_in_use = tx;
            self.rx_in_use = min_rx;
        }
    }

    fn go(&mut self, now: Instant, to: State, diag: Diag) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.diag = diag;
        self.state_changes += 1;
        if to == State::Up {
            self.up_since = Some(now);
        }
        if from == State::Up {
            self.flaps += 1;
            self.up_since = None;
            // A Poll Sequence is about timers of an Up session; `advertise` below may find
            // nothing to change and leave it running.
            self.polling = false;
            self.tx_in_use = self.desired_min_tx;
            self.rx_in_use = self.required_min_rx;
        }
        // Up: from the slow rate to the configured one; leaving Up: back to the slow rate.
        if to == State::Up || from == State::Up {
            self.advertise(self.settings.min_tx, self.settings.min_rx);
            self.reschedule(now);
        }
        self.send_now = true;
        let administrative = to == State::AdminDown || self.remote_state == State::AdminDown;
        self.changes.push_back(Transition {
            from,
            to,
            diag,
            path_failed: from == State::Up && !administrative,
        });
    }

    fn packet(&mut self, poll: bool, final_: bool) -> ControlPacket {
        self.packets_out += 1;
        ControlPacket {
            diag: self.diag,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.multiplier,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx_us: to_micros(self.desired_min_tx),
            required_min_rx_us: to_micros(self.required_min_rx),
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }
}
