//! Watching the network across an event, continuously, the way it fails in production: the
//! kernel FIB of every hop (`ip -o monitor route` from before the event to after it), a ping
//! through the data plane, and a peer's own table polled over its CLI.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{err, Lab, ProcId};

/// `ip -o monitor route` in a set of namespaces.
#[derive(Debug)]
pub struct FibWatch {
    monitors: Vec<(String, String, ProcId)>,
}

/// What one namespace's FIB did to the watched prefixes.
#[derive(Debug, Clone)]
pub struct FibGaps {
    /// The namespace.
    pub ns: String,
    /// Each time a watched prefix was deleted: the prefix, and how long until it was back
    /// (`None`: it never came back while watched).
    pub gaps: Vec<(String, Option<Duration>)>,
}

impl FibGaps {
    /// The gaps longer than `limit` (a delete followed at once by an add is how BIRD 1.6
    /// replaces a kernel route: not a forwarding gap).
    pub fn longer_than(&self, limit: Duration) -> Vec<&(String, Option<Duration>)> {
        self.gaps
            .iter()
            .filter(|(_, d)| d.is_none_or(|d| d > limit))
            .collect()
    }
}

impl FibWatch {
    /// Starts a monitor in each of `namespaces`; `tag` keeps the log names apart.
    pub fn start(lab: &mut Lab, tag: &str, namespaces: &[&str]) -> io::Result<FibWatch> {
        let mut monitors = Vec::new();
        for (i, ns) in namespaces.iter().enumerate() {
            let name = format!("{tag}-fib{i}");
            let id = lab.spawn(&name, ns, "ip", &["-ts", "-o", "monitor", "route"], &[])?;
            monitors.push(((*ns).to_owned(), name, id));
        }
        // The monitors must listen before the event starts.
        std::thread::sleep(Duration::from_millis(300));
        Ok(FibWatch { monitors })
    }

    /// Stops the monitors; for each namespace, the deletions of any of `prefixes`.
    pub fn stop(self, lab: &mut Lab, prefixes: &[&str]) -> io::Result<Vec<FibGaps>> {
        let mut out = Vec::new();
        for (ns, name, id) in self.monitors {
            lab.signal(id, "TERM")?;
            let log = std::fs::read_to_string(lab.path(&format!("{name}.log")))?;
            out.push(FibGaps {
                ns,
                gaps: gaps(&log, prefixes),
            });
        }
        Ok(out)
    }
}

/// One line of `ip -ts -o monitor route`: (seconds of the day, deleted, prefix).
fn parse_monitor_line(line: &str) -> Option<(f64, bool, &str)> {
    let (stamp, rest) = line.strip_prefix('[')?.split_once(']')?;
    let time = stamp.split('T').nth(1)?;
    let mut hms = time.split(':');
    let h: f64 = hms.next()?.parse().ok()?;
    let m: f64 = hms.next()?.parse().ok()?;
    let s: f64 = hms.next()?.parse().ok()?;
    let rest = rest.trim_start();
    let (deleted, rest) = match rest.strip_prefix("Deleted ") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // "198.18.1.0/26 via ..." or "blackhole 198.18.1.0/26 ...".
    let prefix = rest
        .split_whitespace()
        .find(|w| w.contains('/') || w.parse::<std::net::IpAddr>().is_ok())?;
    Some((h * 3600.0 + m * 60.0 + s, deleted, prefix))
}

/// Every deletion of one of `prefixes` in an `ip -ts -o monitor route` log, with the time
/// until the prefix was added again.
pub fn gaps(log: &str, prefixes: &[&str]) -> Vec<(String, Option<Duration>)> {
    let events: Vec<(f64, bool, &str)> = log
        .lines()
        .filter_map(parse_monitor_line)
        .filter(|(_, _, p)| prefixes.contains(p))
        .collect();
    events
        .iter()
        .enumerate()
        .filter(|(_, (_, deleted, _))| *deleted)
        .map(|(i, (t, _, p))| {
            let back = events[i + 1..]
                .iter()
                .find(|(_, deleted, q)| !deleted && q == p)
                .map(|(t2, _, _)| Duration::from_secs_f64((t2 - t).max(0.0)));
            ((*p).to_owned(), back)
        })
        .collect()
}

/// A ping running in the background.
#[derive(Debug)]
pub struct Ping {
    name: String,
    id: ProcId,
}

/// What a ping saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingResult {
    /// Echo requests sent.
    pub transmitted: u64,
    /// Replies received.
    pub received: u64,
}

impl PingResult {
    /// Lost share in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.transmitted == 0 {
            return 100.0;
        }
        #[allow(clippy::cast_precision_loss)]
        let lost = self.transmitted.saturating_sub(self.received) as f64;
        #[allow(clippy::cast_precision_loss)]
        let sent = self.transmitted as f64;
        100.0 * lost / sent
    }
}

impl Ping {
    /// Pings `to` from address `from` in `ns` every `interval_ms` until stopped (`-D`: each
    /// reply line starts with its time).
    pub fn start(
        lab: &mut Lab,
        name: &str,
        ns: &str,
        from: &str,
        to: &str,
        interval_ms: u32,
    ) -> io::Result<Ping> {
        let interval = format!("{:.3}", f64::from(interval_ms) / 1000.0);
        let id = lab.spawn(
            name,
            ns,
            "ping",
            &["-n", "-D", "-i", &interval, "-W", "1", "-I", from, to],
            &[],
        )?;
        Ok(Ping {
            name: name.to_owned(),
            id,
        })
    }

    /// Stops it (SIGINT: ping prints its statistics) and reads them. Replies still in flight
    /// at the stop would count as lost: the caller stops a little after the event.
    pub fn stop(self, lab: &mut Lab) -> io::Result<PingResult> {
        lab.signal(self.id, "INT")?;
        let log = std::fs::read_to_string(lab.path(&format!("{}.log", self.name)))?;
        parse_ping(&log).ok_or_else(|| err(format!("no ping statistics in:\n{log}")))
    }
}

impl Ping {
    /// Stops it and counts the echo requests lost between the first and the last reply, by
    /// sequence number (see [`parse_ping_seqs`]).
    pub fn stop_seqs(self, lab: &mut Lab) -> io::Result<SeqLoss> {
        lab.signal(self.id, "INT")?;
        let log = std::fs::read_to_string(lab.path(&format!("{}.log", self.name)))?;
        parse_ping_seqs(&log).ok_or_else(|| err(format!("no ping replies in:\n{log}")))
    }
}

/// Echo requests lost, counted by sequence number between the first and the last reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqLoss {
    /// Sequence number of the first reply.
    pub first: u64,
    /// Sequence number of the last reply.
    pub last: u64,
    /// Distinct sequence numbers answered.
    pub received: u64,
    /// Sequence numbers in `first..=last` never answered.
    pub missing: u64,
    /// The longest run of consecutive unanswered sequence numbers.
    pub longest_gap: u64,
    /// Requests sent, from ping's summary (0 without one): `transmitted - last` requests
    /// were unanswered at the end (in flight, or traffic not back).
    pub transmitted: u64,
    /// The time the unanswered requests stood for, from the replies' times (`ping -D`):
    /// for each run of `n` missing requests between two replies `dt` apart, `dt * n / (n+1)`
    /// (ping does not keep its interval exactly under load: 50/s asked, 40/s seen). `None`
    /// without timestamps.
    pub lost_ms: Option<u64>,
}

impl SeqLoss {
    /// The traffic lost in ms: [`SeqLoss::lost_ms`], or `missing * interval_ms` without
    /// timestamps.
    pub fn lost_ms(&self, interval_ms: u64) -> u64 {
        self.lost_ms.unwrap_or(self.missing * interval_ms)
    }
}

/// Counts unanswered requests in ping's per-reply lines (`[TIME] 64 bytes from A:
/// icmp_seq=N ...`, the time with `-D`): only between the first and the last reply, so that
/// neither a slow start (ARP) nor the requests in flight when ping was stopped count;
/// duplicates count once, error lines (`From A icmp_seq=N Destination Host Unreachable`)
/// not at all. `None` without any reply.
pub fn parse_ping_seqs(log: &str) -> Option<SeqLoss> {
    let mut replies: Vec<(u64, Option<f64>)> = log
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| {
            let seq = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("icmp_seq="))
                .and_then(|n| n.parse().ok())?;
            let time = l
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(t, _)| t.parse::<f64>().ok());
            Some((seq, time))
        })
        .collect();
    replies.sort_by_key(|r| r.0);
    replies.dedup_by_key(|r| r.0);
    let (first, last) = (replies.first()?.0, replies.last()?.0);
    let mut longest_gap = 0;
    let mut lost_s = Some(0.0);
    for w in replies.windows(2) {
        let n = w[1].0 - w[0].0 - 1;
        longest_gap = longest_gap.max(n);
        if n > 0 {
            lost_s = match (lost_s, w[0].1, w[1].1) {
                #[allow(clippy::cast_precision_loss)]
                (Some(acc), Some(t0), Some(t1)) => {
                    Some(acc + (t1 - t0).max(0.0) * n as f64 / (n + 1) as f64)
                }
                _ => None,
            };
        }
    }
    if replies.iter().any(|r| r.1.is_none()) {
        lost_s = None;
    }
    let received = replies.len() as u64;
    Some(SeqLoss {
        first,
        last,
        received,
        missing: last - first + 1 - received,
        longest_gap,
        transmitted: parse_ping(log).map_or(0, |p| p.transmitted),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        lost_ms: lost_s.map(|s| (s * 1000.0).round() as u64),
    })
}

/// "N packets transmitted, M received, ..." from ping's summary.
pub fn parse_ping(log: &str) -> Option<PingResult> {
    let line = log.lines().find(|l| l.contains("packets transmitted"))?;
    let mut words = line.split_whitespace();
    let transmitted = words.next()?.parse().ok()?;
    let received = line
        .split(',')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(PingResult {
        transmitted,
        received,
    })
}

/// Polls a condition in a thread every `every` until stopped, recording when it was false.
#[derive(Debug)]
pub struct Poller {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<(Duration, String)>>,
}

impl Poller {
    /// Starts polling `check`: `Ok(None)` is fine, `Ok(Some(why))` or an error is a miss.
    pub fn start(
        every: Duration,
        mut check: impl FnMut() -> io::Result<Option<String>> + Send + 'static,
    ) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut misses = Vec::new();
            // Bounded: at most ten minutes, whatever the caller does.
            while !flag.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(600) {
                match check() {
                    Ok(None) => {}
                    Ok(Some(why)) => misses.push((start.elapsed(), why)),
                    Err(e) => misses.push((start.elapsed(), e.to_string())),
                }
                std::thread::sleep(every);
            }
            misses
        });
        Poller { stop, handle }
    }

    /// Stops polling; the misses with their time since the start.
    pub fn stop(self) -> Vec<(Duration, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .unwrap_or_else(|_| vec![(Duration::ZERO, "the poller panicked".to_owned())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_how_long_deleted_routes_were_gone() {
        let log = "[2026-12-03T09:36:03.000000] 198.18.2.0/26 via 192.0.2.12 dev eth0 proto bird \n\
                   [2026-12-03T09:36:03.100000] Deleted 198.18.2.0/26 via 192.0.2.12 dev eth0 proto bird \n\
                   [2026-12-03T09:36:03.100050] 198.18.2.0/26 via 192.0.2.12 dev eth0 proto bird \n\
                   [2026-12-03T09:36:03.200000] Deleted 198.18.9.0/26 via 192.0.2.19 dev eth0 proto bird \n\
                   [2026-12-03T09:36:03.300000] Deleted blackhole 198.18.1.0/26 proto bird \n\
                   [2026-12-03T09:36:04.000000] Deleted 198.19.24.0/24 nhid 5 via 203.0.113.2 dev up0 proto 186 \n\
                   [2026-12-03T09:36:04.750000] 198.19.24.0/24 nhid 5 via 203.0.113.2 dev up0 proto 186 ";
        let g = FibGaps {
            ns: "n1".to_owned(),
            gaps: gaps(log, &["198.18.2.0/26", "198.18.1.0/26", "198.19.24.0/24"]),
        };
        assert_eq!(g.gaps.len(), 3, "{g:?}");
        assert!(g.gaps[0].1.unwrap() < Duration::from_millis(1));
        assert_eq!(g.gaps[1], ("198.18.1.0/26".to_owned(), None));
        let long = g.longer_than(Duration::from_millis(100));
        assert_eq!(long.len(), 2, "{long:?}");
        assert!((long[1].1.unwrap().as_secs_f64() - 0.75).abs() < 0.001);
    }

    #[test]
    fn counts_missing_sequence_numbers() {
        let log = "PING 198.19.24.10 (198.19.24.10) from 198.18.1.1 : 56(84) bytes of data.\n\
                   64 bytes from 198.19.24.10: icmp_seq=2 ttl=62 time=0.1 ms\n\
                   64 bytes from 198.19.24.10: icmp_seq=3 ttl=62 time=0.1 ms\n\
                   From 203.0.113.1 icmp_seq=4 Destination Net Unreachable\n\
                   64 bytes from 198.19.24.10: icmp_seq=8 ttl=62 time=0.1 ms\n\
                   64 bytes from 198.19.24.10: icmp_seq=8 ttl=62 time=0.1 ms (DUP!)\n\
                   64 bytes from 198.19.24.10: icmp_seq=10 ttl=62 time=0.1 ms\n\
                   \n--- 198.19.24.10 ping statistics ---\n\
                   12 packets transmitted, 5 received, +1 duplicates, 58% packet loss\n";
        let l = parse_ping_seqs(log).unwrap();
        assert_eq!(
            l,
            SeqLoss {
                first: 2,
                last: 10,
                received: 4,
                missing: 5,
                longest_gap: 4,
                transmitted: 12,
                lost_ms: None
            }
        );
        assert_eq!(l.lost_ms(20), 100);
        // With -D: 4 missing between replies 0.125 s apart stand for 0.1 s.
        let log = "[1000.000000] 64 bytes from 198.19.24.10: icmp_seq=1 ttl=62 time=0.1 ms\n\
                   [1000.025000] 64 bytes from 198.19.24.10: icmp_seq=2 ttl=62 time=0.1 ms\n\
                   [1000.150000] 64 bytes from 198.19.24.10: icmp_seq=7 ttl=62 time=0.1 ms\n";
        let l = parse_ping_seqs(log).unwrap();
        assert_eq!((l.missing, l.lost_ms), (4, Some(100)));
        assert_eq!(l.lost_ms(20), 100);
        assert!(
            parse_ping_seqs("PING x\nFrom a icmp_seq=1 Destination Net Unreachable\n").is_none()
        );
    }

    #[test]
    fn reads_ping_statistics() {
        let log = "PING 198.19.24.10 ...\n\n--- 198.19.24.10 ping statistics ---\n\
                   412 packets transmitted, 409 received, 0.728155% packet loss, time 20560ms\n";
        let r = parse_ping(log).unwrap();
        assert_eq!(
            r,
            PingResult {
                transmitted: 412,
                received: 409
            }
        );
        assert!((r.loss_percent() - 0.728).abs() < 0.01);
        let log = "3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2ms";
        assert_eq!(parse_ping(log).unwrap().received, 0);
    }
}
