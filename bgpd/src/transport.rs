//! TCP sockets for BGP sessions: listeners, outgoing connections, TCP-MD5 (RFC 2385) and
//! GTSM (RFC 5082).
//!
//! Socket options the standard library does not offer go through `setsockopt` in the one
//! small `sys` module below, the only unsafe code in the daemon.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// What an accept loop does after a failed accept. Out of descriptors (EMFILE, ENFILE) or
/// memory the listener stays readable, so retrying at once spins a core and floods the log
/// (seen: 250,000 lines a second on the control socket): wait, doubling from 10 ms to 1 s
/// while failures continue (as tokio's and hyper's servers do), and log at most once every
/// 10 s, counting the failures in between.
#[derive(Debug)]
pub struct AcceptBackoff {
    what: &'static str,
    delay: Duration,
    failures: u64,
    logged_at: Option<Instant>,
}

impl AcceptBackoff {
    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    /// For the listener named `what` in the log.
    pub fn new(what: &'static str) -> Self {
        AcceptBackoff {
            what,
            delay: Self::MIN,
            failures: 0,
            logged_at: None,
        }
    }

    /// An accept succeeded: the next failure waits the shortest time again.
    pub fn succeeded(&mut self) {
        self.delay = Self::MIN;
    }

    /// An accept failed at `now`: how long to wait, and whether to log (with the number of
    /// failures since the last line).
    pub fn failed_at(&mut self, now: Instant) -> (Duration, Option<u64>) {
        self.failures += 1;
        let log = self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= Self::LOG_EVERY);
        let logged = log.then(|| {
            self.logged_at = Some(now);
            std::mem::take(&mut self.failures)
        });
        let wait = self.delay;
        self.delay = (self.delay * 2).min(Self::MAX);
        (wait, logged)
    }

    /// An accept failed: logs (rate-limited) and waits.
    pub async fn failed(&mut self, error: &io::Error) {
        let (wait, logged) = self.failed_at(Instant::now());
        if let Some(failures) = logged {
            tracing::warn!(
                listener = self.what,
                %error,
                failures,
                retry_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "accept failed; backing off (logged at most every 10 s)"
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// Raises the soft limit on open descriptors to the hard limit: each BGP session and
/// control client holds one, and the usual soft limit (1,024) is far below what thousands
/// of Calico nodes need. Returns the limit now in force.
pub fn raise_descriptor_limit() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok(hard)
}

/// Longest TCP-MD5 key Linux accepts.
pub const MAX_MD5_KEY: usize = 80;

/// What a session's sockets need beyond an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Source address for outgoing connections.
    pub local_address: Option<IpAddr>,
    /// TCP-MD5 key shared with the peer (RFC 2385).
    pub md5_key: Option<Vec<u8>>,
    /// GTSM (RFC 5082): the peer is at most this many hops away; we send with TTL 255 and
    /// accept only packets with TTL of at least 256 - hops.
    pub gtsm_hops: Option<u8>,
}

/// Opens a listening socket for BGP. IPv6 listeners are IPv6-only so that an IPv4 and an
/// IPv6 listener can share port 179.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(addr))?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Installs (or with `None`, removes) the TCP-MD5 key for peers in `peers` on a listening
/// socket, so that their SYNs are answered only when signed with the key. A single address
/// is a /32 or /128; dynamic neighbor ranges use the prefix form (Linux 4.13 and later).
pub fn set_listener_md5(
    listener: &TcpListener,
    peers: IpNet,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let local_is_v6 = listener.local_addr()?.is_ipv6();
    sys::set_md5(
        listener.as_raw_fd(),
        peers,
        key.unwrap_or_default(),
        local_is_v6,
    )
}

/// Connects to a peer with the session's socket options, within `timeout`.
pub async fn connect(
    remote: SocketAddr,
    options: &SocketOptions,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = options.local_address {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    let fd = socket.as_raw_fd();
    if let Some(key) = &options.md5_key {
        sys::set_md5(fd, IpNet::from(remote.ip()), key, remote.is_ipv6())?;
    }
    if let Some(hops) = options.gtsm_hops {
        sys::set_gtsm(fd, remote.is_ipv6(), hops)?;
    }
    socket.set_nodelay(true)?;
    let stream = tokio::time::timeout(timeout, socket.connect(remote))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    Ok(stream)
}

/// Applies per-peer options to an accepted connection (GTSM; the MD5 key was already on the
/// listener and is inherited).
pub fn prepare_accepted(stream: &TcpStream, options: &SocketOptions) -> io::Result<()> {
    stream.set_nodelay(true)?;
    if let Some(hops) = options.gtsm_hops {
        let v6 = stream.peer_addr()?.is_ipv6();
        sys::set_gtsm(stream.as_raw_fd(), v6, hops)?;
    }
    Ok(())
}

#[allow(unsafe_code)]
mod sys {
    //! `setsockopt` calls for TCP-MD5 and GTSM. Each call passes a pointer to a local value
    //! with its exact size; nothing is kept past the call.

    use std::io;
    use std::mem::size_of;
    use std::net::IpAddr;
    use std::os::fd::RawFd;

    use ipnet::IpNet;

    const TCP_MD5SIG_EXT: libc::c_int = 32;
    const TCP_MD5SIG_FLAG_PREFIX: u8 = 1;

    /// `struct tcp_md5sig` from `linux/tcp.h`.
    #[repr(C)]
    struct TcpMd5Sig {
        addr: libc::sockaddr_storage,
        flags: u8,
        prefix_len: u8,
        key_len: u16,
        ifindex: libc::c_int,
        key: [u8; super::MAX_MD5_KEY],
    }

    fn setsockopt<T>(
        fd: RawFd,
        level: libc::c_int,
        name: libc::c_int,
        value: &T,
    ) -> io::Result<()> {
        let len = libc::socklen_t::try_from(size_of::<T>())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `value` points to a live, initialised `T` of `len` bytes for the call.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (value as *const T).cast::<libc::c_void>(),
                len,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn set_md5(
        fd: RawFd,
        peers: IpNet,
        key: &[u8],
        socket_is_v6: bool,
    ) -> io::Result<()> {
        if key.len() > super::MAX_MD5_KEY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TCP-MD5 key longer than 80 bytes",
            ));
        }
        // SAFETY: sockaddr_storage and the rest of the struct are plain data; all-zero is
        // a valid value for each field.
        let mut sig: TcpMd5Sig = unsafe { std::mem::zeroed() };
        write_addr(&mut sig.addr, peers.addr(), socket_is_v6);
        sig.flags = TCP_MD5SIG_FLAG_PREFIX;
        // An IPv4 peer on an IPv6 socket is an IPv4-mapped address: 96 more prefix bits.
        sig.prefix_len = match (peers.addr(), socket_is_v6) {
            (IpAddr::V4(_), true) => peers.prefix_len() + 96,
            _ => peers.prefix_len(),
        };
        sig.key_len = u16::try_from(key.len()).unwrap_or(0);
        sig.key[..key.len()].copy_from_slice(key);
        setsockopt(fd, libc::IPPROTO_TCP, TCP_MD5SIG_EXT, &sig)
    }

    fn write_addr(storage: &mut libc::sockaddr_storage, addr: IpAddr, socket_is_v6: bool) {
        let v6 = match (addr, socket_is_v6) {
            (IpAddr::V4(a), false) => {
                // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
                let sin = unsafe {
                    &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                sin.sin_family = family(libc::AF_INET);
                sin.sin_addr.s_addr = u32::from(a).to_be();
                return;
            }
            (IpAddr::V4(a), true) => a.to_ipv6_mapped(),
            (IpAddr::V6(a), _) => a,
        };
        // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
        let sin6 =
            unsafe { &mut *(storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        sin6.sin6_family = family(libc::AF_INET6);
        sin6.sin6_addr.s6_addr = v6.octets();
    }

    /// Address family constants are small positive numbers that fit `sa_family_t`.
    fn family(af: libc::c_int) -> libc::sa_family_t {
        libc::sa_family_t::try_from(af).unwrap_or_default()
    }

    /// RFC 5082 section 3: send with TTL 255, accept only TTL >= 256 - hops.
    pub(super) fn set_gtsm(fd: RawFd, v6: bool, hops: u8) -> io::Result<()> {
        let min: libc::c_int = 256 - libc::c_int::from(hops.max(1));
        let max: libc::c_int = 255;
        if v6 {
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &max)?;
            setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_MINHOPCOUNT, &min)
        } else {
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_TTL, &max)?;
            setsockopt(fd, libc::IPPROTO_IP, libc::IP_MINTTL, &min)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::AcceptBackoff;

    #[test]
    fn failed_accepts_back_off_to_a_second_and_log_once_every_ten_seconds() {
        let mut b = AcceptBackoff::new("test");
        let mut now = Instant::now();
        let (mut waits, mut logged) = (Vec::new(), Vec::new());
        for _ in 0..40 {
            let (wait, log) = b.failed_at(now);
            waits.push(wait.as_millis());
            logged.extend(log);
            now += wait;
        }
        assert_eq!(waits[..8], [10, 20, 40, 80, 160, 320, 640, 1000]);
        assert!(waits[8..].iter().all(|w| *w == 1000));
        // 40 failures in about 34 s: a line at the first, then one every 10 s with the
        // count since the last; the failures after the last line are still counted.
        assert_eq!(logged.len(), 4, "{logged:?}");
        assert_eq!(logged[0], 1);
        assert!(logged.iter().sum::<u64>() <= 40);
        b.succeeded();
        assert_eq!(b.failed_at(now).0.as_millis(), 10);
    }
}
