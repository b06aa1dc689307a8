//! Netlink (rtnetlink, RFC 3549) requests and their translation: the route messages for
//! an [`RouteOp`], dumps of routes and links, and kernel messages turned into
//! [`KernelChange`]s for the next-hop table.
//!
//! ```text
//! RouteOp::Install ─► RTM_NEWROUTE  NLM_F_REQUEST|ACK|CREATE|REPLACE  table, proto, metric,
//!                                  RTA_GATEWAY+RTA_OIF | RTA_MULTIPATH | RTN_BLACKHOLE
//! RouteOp::Remove  ─► RTM_DELROUTE  NLM_F_REQUEST|ACK                  table, proto, metric
//! watch socket    ◄─ RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE
//! ```
//!
//! Route requests are batched ([`Requests`]): up to [`BATCH_MESSAGES`] messages (at most
//! [`BATCH_BYTES`]) go back to back in one `sendmsg`, which the kernel processes in order
//! before it returns. Only the last message of a batch asks for an ACK; the kernel answers
//! any other only when it fails, and that error carries the request's sequence number, so
//! each failure is still attributed to its route. Errors are capped with `NETLINK_CAP_ACK`
//! (no echo of the request). Dumps go through an `rtnetlink` connection.

use std::io;
use std::net::IpAddr;

use futures::channel::mpsc::UnboundedReceiver;
use futures::StreamExt;
use ipnet::IpNet;
use rtnetlink::packet_core::NetlinkBuffer;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHop, RouteProtocol,
    RouteScope, RouteType, RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use rtnetlink::{Handle, MulticastGroup};

use super::nexthop::{KernelChange, KernelHop, KernelRoute, RouteKind};
use super::reconcile::{Install, RouteOp};

/// Most route requests sent in one `sendmsg`.
pub(crate) const BATCH_MESSAGES: usize = 512;

/// Most bytes sent in one `sendmsg` (well under the default `SO_SNDBUF`).
pub(crate) const BATCH_BYTES: usize = 64 << 10;

/// Receive buffer of the request socket: room for a batch of errors.
const REQUEST_RCVBUF: usize = 4 << 20;

/// Receive buffer asked for on the watch socket: a full table of our own notifications
/// arrives there while we install it (`SO_RCVBUFFORCE` as root, else capped by rmem_max).
const WATCH_RCVBUF: usize = 32 << 20;

/// Where our routes go and how they are marked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) table: u32,
    pub(crate) protocol: u8,
    pub(crate) metric: u32,
}

/// A kernel message from the watch socket, interpreted.
#[derive(Debug)]
pub(crate) enum Watched {
    /// A link or route change (our own routes included: the table filters them).
    Change(KernelChange),
    /// The socket overflowed: changes were lost, the table must be dumped again.
    Overrun,
    /// Nothing for us.
    Ignore,
}

/// A request socket: the connection runs as its own task.
pub(crate) fn connect() -> io::Result<Handle> {
    let (mut conn, handle, _) = rtnetlink::new_connection()?;
    let socket = conn.socket_mut().socket_mut();
    socket.set_cap_ack(true)?;
    // Room for a window of ACKs and large dumps.
    socket.set_rx_buf_sz(4usize << 20)?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A socket subscribed to link and route changes.
pub(crate) fn watch(
) -> io::Result<UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>> {
    let (mut conn, _handle, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ])?;
    let socket = conn.socket_mut().socket_mut();
    if nix::sys::socket::setsockopt(
        &*socket,
        nix::sys::socket::sockopt::RcvBufForce,
        &WATCH_RCVBUF,
    )
    .is_err()
    {
        socket.set_rx_buf_sz(WATCH_RCVBUF)?;
    }
    tokio::spawn(conn);
    Ok(messages)
}

fn header_table(table: u32) -> u8 {
    // Tables above 255 go in RTA_TABLE only; the header says RT_TABLE_COMPAT (252).
    u8::try_from(table).unwrap_or(252)
}

fn base(prefix: IpNet, t: &Target, metric: u32) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = match prefix {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    };
    m.header.destination_prefix_length = prefix.prefix_len();
    m.header.table = header_table(t.table);
    m.header.protocol = RouteProtocol::from(t.protocol);
    m.header.scope = RouteScope::Universe;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(prefix.network().into()));
    m.attributes.push(RouteAttribute::Table(t.table));
    m.attributes.push(RouteAttribute::Priority(metric));
    m
}

/// The gateway attribute: `RTA_GATEWAY` in the route's family, `RTA_VIA` for an IPv6
/// gateway of an IPv4 route (RFC 8950 next hops).
fn gateway_attr(prefix: IpNet, gw: IpAddr) -> RouteAttribute {
    match (prefix, gw) {
        (IpNet::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        (_, gw) => RouteAttribute::Gateway(gw.into()),
    }
}

/// The netlink message for one action.
pub(crate) fn request_for(action: &RouteOp, t: &Target) -> NetlinkMessage<RouteNetlinkMessage> {
    match action {
        RouteOp::Install { prefix, route } => {
            let mut m = base(*prefix, t, t.metric);
            match route {
                Install::Blackhole => m.header.kind = RouteType::BlackHole,
                Install::Via(gws) => match gws.as_slice() {
                    [one] => {
                        m.attributes.push(gateway_attr(*prefix, one.addr));
                        m.attributes.push(RouteAttribute::Oif(one.ifindex));
                    }
                    many => {
                        let hops = many
                            .iter()
                            .map(|g| {
                                let mut nh = RouteNextHop::default();
                                nh.interface_index = g.ifindex;
                                nh.attributes.push(gateway_attr(*prefix, g.addr));
                                nh
                            })
                            .collect();
                        m.attributes.push(RouteAttribute::MultiPath(hops));
                    }
                },
            }
            let mut msg = NetlinkMessage::from(RouteNetlinkMessage::NewRoute(m));
            msg.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
            msg
        }
        RouteOp::Remove { prefix, metric } => {
            let mut m = base(*prefix, t, *metric);
            // Type unspecified: a blackhole of ours is removed by the same request.
            m.header.kind = RouteType::Unspec;
            m.header.scope = RouteScope::NoWhere;
            let mut msg = NetlinkMessage::from(RouteNetlinkMessage::DelRoute(m));
            msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
            msg
        }
    }
}

/// The request socket for route changes: batches of requests per `sendmsg`, errors
/// attributed per request by sequence number.
pub(crate) struct Requests {
    socket: TokioSocket,
    /// Sequence number of the next request.
    seq: u32,
    /// The batch being built.
    batch: Vec<NetlinkMessage<RouteNetlinkMessage>>,
    out: Vec<u8>,
    rx: Vec<u8>,
}

impl Requests {
    pub(crate) fn new() -> io::Result<Requests> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        let s = socket.socket_mut();
        s.bind_auto()?;
        s.connect(&SocketAddr::new(0, 0))?;
        s.set_cap_ack(true)?;
        s.set_rx_buf_sz(REQUEST_RCVBUF)?;
        Ok(Requests {
            socket,
            seq: 1,
            batch: Vec::new(),
            out: Vec::with_capacity(BATCH_BYTES),
            rx: Vec::with_capacity(BATCH_BYTES),
        })
    }

    /// Send `msgs` in batches; the kernel's answer to each, in the same order (its error
    /// as an `io::Error`).
    pub(crate) async fn send_all(
        &mut self,
        msgs: Vec<NetlinkMessage<RouteNetlinkMessage>>,
    ) -> Vec<io::Result<()>> {
        let mut results = Vec::new();
        let mut bytes = 0;
        let mut msgs = msgs.into_iter().peekable();
        while let Some(mut m) = msgs.next() {
            m.header.flags &= !NLM_F_ACK;
            m.finalize();
            bytes += m.buffer_len();
            self.batch.push(m);
            let full = self.batch.len() >= BATCH_MESSAGES
                || msgs
                    .peek()
                    .is_none_or(|next| bytes + next.buffer_len() > BATCH_BYTES);
            if full {
                self.exchange(&mut results).await;
                bytes = 0;
            }
        }
        results
    }

    /// Send the batch in one `sendmsg`, the last request with `NLM_F_ACK`, and read the
    /// errors up to that ACK.
    async fn exchange(&mut self, results: &mut Vec<io::Result<()>>) {
        let first = results.len();
        let n = self.batch.len();
        let base = self.seq;
        self.out.clear();
        let mut seq = base;
        for (i, m) in self.batch.iter_mut().enumerate() {
            m.header.sequence_number = seq;
            seq = seq.wrapping_add(1);
            if i + 1 == n {
                m.header.flags |= NLM_F_ACK;
            }
            let start = self.out.len();
            self.out.resize(start + m.buffer_len(), 0);
            m.serialize(&mut self.out[start..]);
        }
        self.batch.clear();
        self.seq = seq;
        results.extend((0..n).map(|_| Ok(())));
        let answers = &mut results[first..];
        if let Err(e) = self.socket.send(&self.out).await {
            for r in answers.iter_mut() {
                *r = Err(io::Error::new(e.kind(), format!("netlink send: {e}")));
            }
            return;
        }
        loop {
            self.rx.clear();
            if let Err(e) = self.socket.recv(&mut self.rx).await {
                // ENOBUFS: answers were lost. Those not seen are not known to have worked.
                for r in answers.iter_mut().filter(|r| r.is_ok()) {
                    *r = Err(io::Error::new(e.kind(), format!("netlink receive: {e}")));
                }
                return;
            }
            let mut done = false;
            let mut off = 0;
            while off < self.rx.len() {
                let Ok(buf) = NetlinkBuffer::new_checked(&self.rx[off..]) else {
                    break;
                };
                let len = buf.length() as usize;
                // Answers to requests of earlier batches (after a lost answer) are ignored.
                let i = buf.sequence_number().wrapping_sub(base) as usize;
                if i < n {
                    if let Ok(NetlinkPayload::Error(e)) =
                        NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.rx[off..])
                            .map(|m| m.payload)
                    {
                        if let Some(code) = e.code {
                            answers[i] = Err(io::Error::from_raw_os_error(-code.get()));
                        }
                        done |= i + 1 == n;
                    }
                }
                off += (len + 3) & !3;
                if len == 0 {
                    break;
                }
            }
            if done {
                return;
            }
        }
    }
}

/// Dump every route of every family and table, one message at a time into `each` (a
/// full table is never held as messages).
pub(crate) async fn dump_routes(
    handle: &Handle,
    mut each: impl FnMut(RouteMessage),
) -> io::Result<()> {
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::GetRoute(RouteMessage::default()));
    msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut replies = handle
        .clone()
        .request(msg)
        .map_err(|e| io::Error::other(format!("netlink route dump: {e}")))?;
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => each(r),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(io::Error::from_raw_os_error(-code.get()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Dump every link.
pub(crate) async fn dump_links(handle: &Handle) -> io::Result<Vec<LinkMessage>> {
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::GetLink(LinkMessage::default()));
    msg.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut replies = handle
        .clone()
        .request(msg)
        .map_err(|e| io::Error::other(format!("netlink link dump: {e}")))?;
    let mut out = Vec::new();
    while let Some(reply) = replies.next().await {
        match reply.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => out.push(l),
            NetlinkPayload::Error(e) => {
                if let Some(code) = e.code {
                    return Err(io::Error::from_raw_os_error(-code.get()));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn via(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteVia::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A kernel route message in our terms; `None` for what resolution never uses (other
/// families, local/broadcast/multicast types, cloned cache entries).
pub(crate) fn parse_route(m: &RouteMessage) -> Option<KernelRoute> {
    let kind = match m.header.kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::BlackHole | RouteType::Unreachable | RouteType::Prohibit => RouteKind::Reject,
        _ => return None,
    };
    if m.header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let mut dst = None;
    let mut table = u32::from(m.header.table);
    let mut metric = 0;
    let mut gateway = None;
    let mut oif = 0;
    let mut multipath = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = addr(d),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(g) => gateway = addr(g),
            RouteAttribute::Via(v) => gateway = via(v),
            RouteAttribute::Oif(i) => oif = *i,
            RouteAttribute::MultiPath(hops) => multipath = Some(hops),
            _ => {}
        }
    }
    let dst = match (dst, m.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    let prefix = IpNet::new(dst, m.header.destination_prefix_length)
        .ok()?
        .trunc();
    let hops = match (kind, multipath) {
        (RouteKind::Reject, _) => Vec::new(),
        (_, Some(hops)) => hops
            .iter()
            .map(|h| KernelHop {
                gateway: h.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Gateway(g) => addr(g),
                    RouteAttribute::Via(v) => via(v),
                    _ => None,
                }),
                ifindex: h.interface_index,
            })
            .collect(),
        (_, None) => vec![KernelHop {
            gateway,
            ifindex: oif,
        }],
    };
    Some(KernelRoute {
        prefix,
        table,
        protocol: u8::from(m.header.protocol),
        metric,
        kind,
        hops,
    })
}

/// A link message in our terms: usable when `IFF_UP` and `IFF_RUNNING`.
pub(crate) fn parse_link(l: &LinkMessage) -> KernelChange {
    KernelChange::Link {
        ifindex: l.header.index,
        up: l.header.flags.contains(LinkFlags::Up) && l.header.flags.contains(LinkFlags::Running),
    }
}

/// Interpret one message from the watch socket.
pub(crate) fn watched(msg: NetlinkMessage<RouteNetlinkMessage>) -> Watched {
    match msg.payload {
        NetlinkPayload::Overrun(_) => Watched::Overrun,
        NetlinkPayload::InnerMessage(inner) => match inner {
            RouteNetlinkMessage::NewRoute(r) => parse_route(&r).map_or(Watched::Ignore, |r| {
                Watched::Change(KernelChange::RouteAdded(r))
            }),
            RouteNetlinkMessage::DelRoute(r) => parse_route(&r).map_or(Watched::Ignore, |r| {
                Watched::Change(KernelChange::RouteRemoved(r))
            }),
            RouteNetlinkMessage::NewLink(l) => Watched::Change(parse_link(&l)),
            RouteNetlinkMessage::DelLink(l) => Watched::Change(KernelChange::LinkRemoved {
                ifindex: l.header.index,
            }),
            _ => Watched::Ignore,
        },
        _ => Watched::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fib::nexthop::Gateway;

    fn t() -> Target {
        Target {
            table: 1000,
            protocol: 186,
            metric: 20,
        }
    }

    fn roundtrip(action: &RouteOp) -> RouteMessage {
        match request_for(action, &t()).payload {
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewRoute(m) | RouteNetlinkMessage::DelRoute(m),
            ) => m,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn install_messages_parse_back_to_the_same_route() {
        let single = RouteOp::Install {
            prefix: "198.18.0.0/26".parse().unwrap(),
            route: Install::Via(vec![Gateway {
                addr: "192.0.2.2".parse().unwrap(),
                ifindex: 5,
            }]),
        };
        let m = roundtrip(&single);
        assert_eq!(m.header.table, 252);
        let r = parse_route(&m).unwrap();
        assert_eq!(r.prefix, "198.18.0.0/26".parse::<IpNet>().unwrap());
        assert_eq!((r.table, r.protocol, r.metric), (1000, 186, 20));
        assert_eq!(
            r.hops,
            vec![KernelHop {
                gateway: Some("192.0.2.2".parse().unwrap()),
                ifindex: 5
            }]
        );

        let ecmp = RouteOp::Install {
            prefix: "2001:db8:100::/48".parse().unwrap(),
            route: Install::Via(vec![
                Gateway {
                    addr: "2001:db8:1::2".parse().unwrap(),
                    ifindex: 5,
                },
                Gateway {
                    addr: "2001:db8:1::3".parse().unwrap(),
                    ifindex: 6,
                },
            ]),
        };
        let r = parse_route(&roundtrip(&ecmp)).unwrap();
        assert_eq!(r.hops.len(), 2);
        assert_eq!(r.hops[1].ifindex, 6);

        let bh = RouteOp::Install {
            prefix: "198.18.0.0/16".parse().unwrap(),
            route: Install::Blackhole,
        };
        assert_eq!(
            parse_route(&roundtrip(&bh)).unwrap().kind,
            RouteKind::Reject
        );

        let rm = RouteOp::Remove {
            prefix: "198.18.0.0/16".parse().unwrap(),
            metric: 32,
        };
        let msg = request_for(&rm, &t());
        assert_eq!(msg.header.flags, NLM_F_REQUEST | NLM_F_ACK);
        let m = roundtrip(&rm);
        assert!(m.attributes.contains(&RouteAttribute::Priority(32)));
        assert_eq!(u8::from(m.header.protocol), 186);
    }

    #[test]
    fn ipv6_gateway_of_an_ipv4_route_goes_in_rta_via() {
        let a = RouteOp::Install {
            prefix: "198.18.0.0/26".parse().unwrap(),
            route: Install::Via(vec![Gateway {
                addr: "2001:db8:1::2".parse().unwrap(),
                ifindex: 5,
            }]),
        };
        let m = roundtrip(&a);
        assert!(m
            .attributes
            .iter()
            .any(|a| matches!(a, RouteAttribute::Via(RouteVia::Inet6(_)))));
        assert_eq!(
            parse_route(&m).unwrap().hops[0].gateway,
            Some("2001:db8:1::2".parse().unwrap())
        );
    }
}
