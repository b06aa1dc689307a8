//! Peer identities: small integers the tables store, with the facts about each peer the
//! decision process needs registered once here (RFC 4271 section 9.1.2.2 d, f, g; RFC 4456).

use std::net::{IpAddr, Ipv4Addr};

/// A peer as the tables know it. Index into the [`Peers`] registry; 2 bytes in every path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u16);

/// What the decision process needs to know about a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's address (RFC 4271 section 9.1.2.2 g: lowest wins the last tie).
    pub address: IpAddr,
    /// The peer's BGP identifier from its OPEN (section 9.1.2.2 f).
    pub bgp_id: Ipv4Addr,
    /// The peer's AS.
    pub asn: u32,
    /// External session (section 9.1.2.2 d: eBGP over iBGP).
    pub ebgp: bool,
    /// A route reflector client (RFC 4456); the decision does not use it, export does.
    pub rr_client: bool,
}

impl PeerInfo {
    /// An iBGP peer in `asn`.
    pub fn ibgp(address: IpAddr, bgp_id: Ipv4Addr, asn: u32) -> Self {
        PeerInfo {
            address,
            bgp_id,
            asn,
            ebgp: false,
            rr_client: false,
        }
    }

    /// An eBGP peer in `asn`.
    pub fn ebgp(address: IpAddr, bgp_id: Ipv4Addr, asn: u32) -> Self {
        PeerInfo {
            ebgp: true,
            ..Self::ibgp(address, bgp_id, asn)
        }
    }
}

/// Paths per family: a peer's in the tables, or a group's advertised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCounts {
    /// IPv4 unicast paths.
    pub ipv4: u64,
    /// IPv6 unicast paths.
    pub ipv6: u64,
}

impl PeerCounts {
    /// Both families.
    pub fn total(&self) -> u64 {
        self.ipv4 + self.ipv6
    }
}

#[derive(Debug, Clone)]
struct Entry {
    info: PeerInfo,
    counts: PeerCounts,
}

/// The registry of peers.
#[derive(Debug, Default)]
pub struct Peers {
    entries: Vec<Option<Entry>>,
}

impl Peers {
    /// Registers a peer, reusing a free id. `None` when 65536 peers exist.
    pub fn add(&mut self, info: PeerInfo) -> Option<PeerId> {
        let entry = Some(Entry {
            info,
            counts: PeerCounts::default(),
        });
        if let Some(i) = self.entries.iter().position(Option::is_none) {
            self.entries[i] = entry;
            return u16::try_from(i).ok().map(PeerId);
        }
        let id = u16::try_from(self.entries.len()).ok()?;
        self.entries.push(entry);
        Some(PeerId(id))
    }

    /// Replaces a peer's facts (its BGP identifier is only known after OPEN). Returns
    /// whether the peer exists.
    pub fn set(&mut self, id: PeerId, info: PeerInfo) -> bool {
        match self.entries.get_mut(usize::from(id.0)) {
            Some(Some(e)) => {
                e.info = info;
                true
            }
            _ => false,
        }
    }

    /// Forgets a peer; its id may be given out again.
    pub(crate) fn remove(&mut self, id: PeerId) {
        if let Some(e) = self.entries.get_mut(usize::from(id.0)) {
            *e = None;
        }
    }

    /// The facts about a peer.
    pub fn get(&self, id: PeerId) -> Option<&PeerInfo> {
        self.entries
            .get(usize::from(id.0))
            .and_then(Option::as_ref)
            .map(|e| &e.info)
    }

    /// The path counts of a peer.
    pub fn counts(&self, id: PeerId) -> PeerCounts {
        self.entries
            .get(usize::from(id.0))
            .and_then(Option::as_ref)
            .map_or_else(PeerCounts::default, |e| e.counts)
    }

    pub(crate) fn count_mut(&mut self, id: PeerId, v6: bool) -> Option<&mut u64> {
        let e = self.entries.get_mut(usize::from(id.0))?.as_mut()?;
        Some(if v6 {
            &mut e.counts.ipv6
        } else {
            &mut e.counts.ipv4
        })
    }

    /// Every registered peer.
    pub fn iter(&self) -> impl Iterator<Item = (PeerId, &PeerInfo)> {
        self.entries.iter().enumerate().filter_map(|(i, e)| {
            let e = e.as_ref()?;
            Some((PeerId(u16::try_from(i).ok()?), &e.info))
        })
    }
}
