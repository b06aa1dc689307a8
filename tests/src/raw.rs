//! A deliberately misbehaving BGP speaker: hand-built messages (so that they can be wrong in
//! exactly one way), driven line by line from stdin by `lab raw-peer` inside a lab namespace.
//!
//! Commands (one a line; each answers one line on stdout):
//! - `announce PREFIX` — a well-formed UPDATE (ORIGIN IGP, our AS path, NEXT_HOP our address).
//! - `bad-origin PREFIX` — the same with ORIGIN = 7 (RFC 7606 7.1: treat-as-withdraw).
//! - `raw-attrs PREFIX HEX...` — an UPDATE whose path attribute field is exactly the octets
//!   HEX (hex digits, spaces between octets allowed; nothing for an empty field), with NLRI
//!   PREFIX and nothing withdrawn. Answers `error: ...` for bad input and keeps serving.
//! - `bad-marker` — a KEEPALIVE whose marker is not all ones (RFC 4271 6.1: NOTIFICATION
//!   Message Header Error / Connection Not Synchronized, and the session closes).
//! - `status` — `up`, `notification CODE SUBCODE` or `closed` (after 1 s of listening).

use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::err;

/// A 19-byte header plus `body`.
pub fn message(kind: u8, body: &[u8]) -> io::Result<Vec<u8>> {
    let len = u16::try_from(19 + body.len()).map_err(|_| err("message too long"))?;
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    Ok(m)
}

/// An OPEN with the multiprotocol (IPv4 unicast) and 4-octet AS capabilities.
pub fn open(asn: u32, hold: u16, id: Ipv4Addr) -> io::Result<Vec<u8>> {
    open_for(asn, hold, id, 1)
}

/// [`open`] offering the family of AFI `afi` (1 IPv4, 2 IPv6) unicast.
pub fn open_for(asn: u32, hold: u16, id: Ipv4Addr, afi: u8) -> io::Result<Vec<u8>> {
    let my_as = u16::try_from(asn).unwrap_or(23456);
    let caps: Vec<u8> = [
        vec![1, 4, 0, afi, 0, 1],
        [vec![65, 4], asn.to_be_bytes().to_vec()].concat(),
    ]
    .concat();
    let cap_len = u8::try_from(caps.len()).map_err(|_| err("capabilities"))?;
    let mut b = vec![4];
    b.extend_from_slice(&my_as.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id.octets());
    b.push(cap_len + 2);
    b.push(2);
    b.push(cap_len);
    b.extend_from_slice(&caps);
    message(1, &b)
}

/// A path attribute (extended length when needed).
pub fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    match u8::try_from(value.len()) {
        Ok(l) if flags & 0x10 == 0 => [vec![flags, code, l], value.to_vec()].concat(),
        _ => {
            let l = u16::try_from(value.len()).unwrap_or(u16::MAX);
            [
                vec![flags | 0x10, code],
                l.to_be_bytes().to_vec(),
                value.to_vec(),
            ]
            .concat()
        }
    }
}

/// `A.B.C.D/N` as NLRI bytes.
pub fn nlri(prefix: &str) -> io::Result<Vec<u8>> {
    let (a, l) = prefix
        .split_once('/')
        .ok_or_else(|| err(format!("bad prefix {prefix}")))?;
    let addr: Ipv4Addr = a.parse().map_err(|_| err(format!("bad prefix {prefix}")))?;
    let len: u8 = l.parse().map_err(|_| err(format!("bad prefix {prefix}")))?;
    if len > 32 {
        return Err(err(format!("bad prefix {prefix}")));
    }
    let bytes = usize::from(len).div_ceil(8);
    let mut v = vec![len];
    v.extend_from_slice(&addr.octets()[..bytes]);
    Ok(v)
}

/// Octets from hex digits; whitespace between octets is ignored (`"40 01 01 00"`).
pub fn hex(s: &str) -> io::Result<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err(err(format!("odd number of hex digits: {s}")));
    }
    digits
        .chunks_exact(2)
        .map(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| err(format!("not hex: {s}")))
        })
        .collect()
}

/// An UPDATE with nothing withdrawn, the path attribute field `attrs` exactly as given
/// (right or wrong), and NLRI `prefix`.
pub fn raw_update(prefix: &str, attrs: &[u8]) -> io::Result<Vec<u8>> {
    let alen = u16::try_from(attrs.len()).map_err(|_| err("attributes too long"))?;
    let mut b = vec![0, 0];
    b.extend_from_slice(&alen.to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend(nlri(prefix)?);
    message(2, &b)
}

/// An IPv6 UPDATE: MP_REACH_NLRI first (RFC 7606 section 5.1: it should come first, so
/// that a later broken attribute cannot hide the NLRI) with next hop `nh` and NLRI `prefix`,
/// then the path attribute octets `attrs` exactly as given (right or wrong).
pub fn raw_update6(prefix: &str, nh: Ipv6Addr, attrs: &[u8]) -> io::Result<Vec<u8>> {
    let bad = || err(format!("bad prefix {prefix}"));
    let (a, l) = prefix.split_once('/').ok_or_else(bad)?;
    let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
    let len: u8 = l.parse().map_err(|_| bad())?;
    if len > 128 {
        return Err(bad());
    }
    let mut mp = vec![0, 2, 1, 16];
    mp.extend_from_slice(&nh.octets());
    mp.push(0);
    mp.push(len);
    mp.extend_from_slice(&addr.octets()[..usize::from(len).div_ceil(8)]);
    let mut all = attr(0x80, 14, &mp);
    all.extend_from_slice(attrs);
    let alen = u16::try_from(all.len()).map_err(|_| err("attributes too long"))?;
    let mut b = vec![0, 0];
    b.extend_from_slice(&alen.to_be_bytes());
    b.extend_from_slice(&all);
    message(2, &b)
}

/// An UPDATE announcing `prefix` with ORIGIN `origin` (0 = IGP; 7 is invalid), AS_PATH
/// `path` (4-octet ASNs, one AS_SEQUENCE; empty for iBGP) and NEXT_HOP `nh`, plus LOCAL_PREF
/// 100 for iBGP (empty path).
pub fn update(prefix: &str, origin: u8, path: &[u32], nh: Ipv4Addr) -> io::Result<Vec<u8>> {
    let mut attrs = attr(0x40, 1, &[origin]);
    let mut seg = Vec::new();
    if !path.is_empty() {
        seg.push(2);
        seg.push(u8::try_from(path.len()).map_err(|_| err("path too long"))?);
        for a in path {
            seg.extend_from_slice(&a.to_be_bytes());
        }
    }
    attrs.extend(attr(0x40, 2, &seg));
    attrs.extend(attr(0x40, 3, &nh.octets()));
    if path.is_empty() {
        attrs.extend(attr(0x40, 5, &100u32.to_be_bytes()));
    }
    raw_update(prefix, &attrs)
}

/// What the reader thread saw from the other side.
#[derive(Debug, Default, Clone)]
struct Seen {
    notification: Option<(u8, u8)>,
    closed: bool,
    open: bool,
    /// IPv4 prefixes announced to us and not withdrawn since (classic NLRI).
    routes: std::collections::BTreeSet<String>,
}

/// Classic IPv4 prefixes in an NLRI or withdrawn-routes field (no path IDs).
fn prefixes(mut field: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = field.split_first() {
        let n = usize::from(len).div_ceil(8);
        if len > 32 || rest.len() < n {
            break;
        }
        let mut octets = [0u8; 4];
        octets[..n].copy_from_slice(&rest[..n]);
        out.push(format!("{}/{len}", Ipv4Addr::from(octets)));
        field = &rest[n..];
    }
    out
}

/// Applies an UPDATE's body (after the header) to `routes`.
fn apply_update(body: &[u8], routes: &mut std::collections::BTreeSet<String>) {
    let Some(wlen) = body
        .get(..2)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return;
    };
    let Some(withdrawn) = body.get(2..2 + wlen) else {
        return;
    };
    let Some(alen) = body
        .get(2 + wlen..4 + wlen)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    else {
        return;
    };
    for p in prefixes(withdrawn) {
        routes.remove(&p);
    }
    if let Some(nlri) = body.get(4 + wlen + alen..) {
        routes.extend(prefixes(nlri));
    }
}

/// Reads whole messages from `s` until it closes, recording what matters.
fn reader(mut s: TcpStream, seen: Arc<Mutex<Seen>>) {
    let mut hdr = [0u8; 19];
    loop {
        if s.read_exact(&mut hdr).is_err() {
            break;
        }
        let len = usize::from(u16::from_be_bytes([hdr[16], hdr[17]]));
        let mut body = vec![0u8; len.saturating_sub(19)];
        if s.read_exact(&mut body).is_err() {
            break;
        }
        if let Ok(mut g) = seen.lock() {
            match hdr[18] {
                1 => g.open = true,
                2 => apply_update(&body, &mut g.routes),
                3 if body.len() >= 2 => g.notification = Some((body[0], body[1])),
                _ => {}
            }
        }
    }
    if let Ok(mut g) = seen.lock() {
        g.closed = true;
    }
}

fn status(seen: &Arc<Mutex<Seen>>) -> String {
    let g = seen.lock().map(|g| g.clone()).unwrap_or_default();
    match (g.notification, g.closed) {
        (Some((c, s)), _) => format!("notification {c} {s}"),
        (None, true) => "closed".into(),
        (None, false) => "up".into(),
    }
}

/// Runs the raw peer: connects from `local` to `peer:179` as AS `asn`, completes the OPEN
/// exchange (printing `established`), then serves commands from `input`, answering on `out`.
/// Keepalives are sent every 3 s (hold time 9 s). Over IPv6 it offers IPv6 unicast only,
/// with BGP identifier 192.0.2.150, and `raw-attrs` sends [`raw_update6`].
pub fn serve(
    peer: IpAddr,
    local: IpAddr,
    asn: u32,
    ibgp: bool,
    input: impl BufRead,
    mut out: impl Write,
) -> io::Result<()> {
    let addr = SocketAddr::from((peer, 179));
    let start = Instant::now();
    let s = loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > Duration::from_secs(20) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    {
        let r = s.try_clone()?;
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || reader(r, seen));
    }
    let w = Arc::new(Mutex::new(s));
    let send = |bytes: &[u8]| -> io::Result<()> {
        let mut g = w.lock().map_err(|_| err("poisoned"))?;
        g.write_all(bytes)
    };
    let opened = match local {
        IpAddr::V4(v4) => open(asn, 9, v4)?,
        IpAddr::V6(_) => open_for(asn, 9, Ipv4Addr::new(192, 0, 2, 150), 2)?,
    };
    send(&opened)?;
    let start = Instant::now();
    while !seen.lock().map(|g| g.open).unwrap_or(false) {
        if start.elapsed() > Duration::from_secs(10) || status(&seen) != "up" {
            writeln!(out, "no OPEN: {}", status(&seen))?;
            return Err(err("no OPEN from the peer"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let keepalive = message(4, &[])?;
    send(&keepalive)?;
    {
        let w = Arc::clone(&w);
        let seen = Arc::clone(&seen);
        let k = keepalive.clone();
        std::thread::spawn(move || {
            // Bounded: at most 10 minutes of keepalives.
            for _ in 0..200 {
                std::thread::sleep(Duration::from_secs(3));
                if status(&seen) != "up" {
                    break;
                }
                if let Ok(mut g) = w.lock() {
                    let _ = g.write_all(&k);
                }
            }
        });
    }
    writeln!(out, "established")?;
    out.flush()?;
    let path: Vec<u32> = if ibgp { Vec::new() } else { vec![asn] };
    for line in input.lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = match words.as_slice() {
            ["announce" | "bad-origin", _] if !local.is_ipv4() => {
                "error: IPv4 only; use raw-attrs".to_owned()
            }
            ["announce", p] => {
                send(&update(p, 0, &path, v4_of(local))?)?;
                "sent".to_owned()
            }
            ["bad-origin", p] => {
                send(&update(p, 7, &path, v4_of(local))?)?;
                "sent".to_owned()
            }
            ["raw-attrs", p, octets @ ..] => {
                let m = hex(&octets.concat()).and_then(|a| match local {
                    IpAddr::V4(_) => raw_update(p, &a),
                    IpAddr::V6(v6) => raw_update6(p, v6, &a),
                });
                match m {
                    Ok(m) => {
                        send(&m)?;
                        "sent".to_owned()
                    }
                    Err(e) => format!("error: {e}"),
                }
            }
            ["bad-marker"] => {
                let mut m = keepalive.clone();
                m[..16].fill(0);
                send(&m)?;
                "sent".to_owned()
            }
            ["received"] => {
                std::thread::sleep(Duration::from_millis(500));
                let g = seen.lock().map(|g| g.routes.clone()).unwrap_or_default();
                let list: Vec<String> = g.into_iter().collect();
                format!("received {}", list.join(" "))
            }
            ["status"] => {
                std::thread::sleep(Duration::from_secs(1));
                status(&seen)
            }
            [] => continue,
            _ => format!("unknown command: {line}"),
        };
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}

fn v4_of(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn messages_are_framed() {
        let k = message(4, &[]).unwrap();
        assert_eq!(k.len(), 19);
        assert_eq!(&k[16..], &[0, 19, 4]);
        let o = open(4_200_000_001, 9, Ipv4Addr::new(192, 0, 2, 50)).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([o[16], o[17]])), o.len());
        assert_eq!(&o[20..22], &23456u16.to_be_bytes(), "AS_TRANS in My AS");
    }

    #[test]
    fn update_layout() {
        let u = update("198.18.50.0/26", 7, &[], Ipv4Addr::new(192, 0, 2, 50)).unwrap();
        // header, no withdrawals, attributes: ORIGIN 7, empty AS_PATH, NEXT_HOP, LOCAL_PREF
        assert_eq!(&u[19..21], &[0, 0]);
        let alen = usize::from(u16::from_be_bytes([u[21], u[22]]));
        assert_eq!(&u[23..27], &[0x40, 1, 1, 7]);
        assert_eq!(&u[23 + alen..], &[26, 198, 18, 50, 0]);
        assert_eq!(nlri("10.0.0.0/8").unwrap(), vec![8, 10]);
        assert_eq!(nlri("0.0.0.0/0").unwrap(), vec![0]);
        assert!(nlri("10.0.0.0/33").is_err());
    }

    #[test]
    fn tracks_what_was_announced_and_withdrawn() {
        let mut routes = std::collections::BTreeSet::new();
        let u = update("198.18.50.0/26", 0, &[], Ipv4Addr::new(192, 0, 2, 50)).unwrap();
        apply_update(&u[19..], &mut routes);
        let u = update("10.0.0.0/8", 0, &[], Ipv4Addr::new(192, 0, 2, 50)).unwrap();
        apply_update(&u[19..], &mut routes);
        assert_eq!(
            routes.iter().collect::<Vec<_>>(),
            ["10.0.0.0/8", "198.18.50.0/26"]
        );
        // Withdraw 10.0.0.0/8: withdrawn length 2, the prefix, no attributes.
        apply_update(&[0, 2, 8, 10, 0, 0], &mut routes);
        assert_eq!(routes.iter().collect::<Vec<_>>(), ["198.18.50.0/26"]);
    }

    #[test]
    fn raw_attrs_are_sent_as_given() {
        assert_eq!(hex("40 01 01 00").unwrap(), vec![0x40, 1, 1, 0]);
        assert_eq!(
            hex("c00304C0000232").unwrap(),
            vec![0xc0, 3, 4, 192, 0, 2, 50]
        );
        assert_eq!(hex("").unwrap(), Vec::<u8>::new());
        assert!(hex("4").is_err());
        assert!(hex("4g").is_err());
        // A NEXT_HOP of length 5: no check on the attributes.
        let a = hex("40 03 05 c0 00 02 32 00").unwrap();
        let u = raw_update("198.18.60.0/26", &a).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([u[16], u[17]])), u.len());
        assert_eq!(u[18], 2, "UPDATE");
        assert_eq!(&u[19..21], &[0, 0], "nothing withdrawn");
        assert_eq!(&u[21..23], &8u16.to_be_bytes(), "total attribute length");
        assert_eq!(&u[23..31], &a[..]);
        assert_eq!(&u[31..], &[26, 198, 18, 60, 0]);
        // The well-formed UPDATE is the same framing around its own attributes.
        let ok = update("198.18.60.0/26", 0, &[], Ipv4Addr::new(192, 0, 2, 50)).unwrap();
        let base = hex("40 01 01 00 40 02 00 40 03 04 c0 00 02 32 40 05 04 00 00 00 64").unwrap();
        assert_eq!(raw_update("198.18.60.0/26", &base).unwrap(), ok);
    }
}
