//! UDP sockets for BFD single hop (RFC 5881): one receiving socket per address family on
//! port 3784 that reports each datagram's TTL (section 5: anything but 255 is dropped, so
//! only a directly connected neighbor can reach the session), and one sending socket per
//! session, from a source port in 49152-65535 (section 4) with TTL 255.

use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The lowest source port a session may use (RFC 5881 section 4).
const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

/// The receiving socket for `family`'s wildcard address on `port`.
pub(super) fn listener(ipv6: bool, port: u16) -> io::Result<UdpSocket> {
    let (domain, addr) = if ipv6 {
        (
            Domain::IPV6,
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)),
        )
    } else {
        (
            Domain::IPV4,
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
        )
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if ipv6 {
        s.set_only_v6(true)?;
        setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
    } else {
        setsockopt(&s, sockopt::Ipv4RecvTtl, &true).map_err(io::Error::from)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

/// A session's sending socket: bound to `local` (or the wildcard) and a free port of the
/// source range, starting the search at `hint`; TTL (hop limit) 255. A plain non-blocking
/// socket, not tokio's: nothing waits on it, and tokio's `try_send_to` refuses to send
/// until the reactor has seen the new socket writable (the first packet was lost).
pub(super) fn sender(
    peer: IpAddr,
    local: Option<IpAddr>,
    hint: u16,
) -> io::Result<std::net::UdpSocket> {
    let ip = local.unwrap_or(match peer {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let s = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::DGRAM,
        None,
    )?;
    if peer.is_ipv6() {
        s.set_unicast_hops_v6(255)?;
    } else {
        s.set_ttl_v4(255)?;
    }
    s.set_nonblocking(true)?;
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    let mut last = None;
    for i in 0..span.min(512) {
        let offset = (u32::from(hint) + i * 7919) % span;
        let port = SOURCE_PORTS
            .start()
            .saturating_add(u16::try_from(offset).unwrap_or(0));
        match s.bind(&SocketAddr::new(ip, port).into()) {
            Ok(()) => return Ok(s.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// One received datagram: its length, sender and TTL (hop limit) if the kernel gave it.
pub(super) async fn receive(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<i32>)> {
    sock.async_io(Interest::READABLE, || {
        let mut iov = [IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(libc::c_int);
        let msg = recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let mut ttl = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                        ttl = Some(t)
                    }
                    _ => {}
                }
            }
        }
        let from = msg
            .address
            .as_ref()
            .and_then(socket_addr)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
        Ok((msg.bytes, from, ttl))
    })
    .await
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::from((v4.ip(), v4.port())));
    }
    let v6 = a.as_sockaddr_in6()?;
    Some(SocketAddr::from((v6.ip(), v6.port())))
}
