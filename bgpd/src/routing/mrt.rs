//! `bgpctl dump rib`: the tables as an MRT TABLE_DUMP_V2 file (RFC 6396), encoded by
//! `bgp_wire::mrt`. The routing task encodes in memory; the daemon writes the file.

use std::collections::HashMap;

use bgp_wire::mrt::{self, Peer as MrtPeer, RibEntry};
use bgp_wire::{EncodeError, Family};
use bytes::BytesMut;
use rib::PeerId;

use super::Routing;
use crate::exchange::PeerKey;

/// A whole dump, ready to be written.
#[derive(Debug, Clone, Default)]
pub struct MrtDump {
    /// The file's bytes: the PEER_INDEX_TABLE record, then one RIB record per prefix.
    pub bytes: Vec<u8>,
    /// RIB records written (prefixes with at least one path).
    pub prefixes: u64,
    /// RIB entries written (paths).
    pub paths: u64,
}

impl Routing {
    /// The Loc-RIB, or with `peer` that peer's paths only (its Adj-RIB-In as the table
    /// keeps it), as an MRT dump made at `unix_now` (seconds since the epoch). The table
    /// keeps no arrival time per path, so every entry's originated time is `unix_now`.
    pub(super) fn mrt_dump(
        &self,
        peer: Option<PeerKey>,
        unix_now: u32,
    ) -> Result<MrtDump, EncodeError> {
        match peer.map(|k| self.peers.get(&k).map(|p| p.id)) {
            None => self.encode_dump(|_| true, unix_now),
            Some(Some(id)) => self.encode_dump(|p| p == id, unix_now),
            // Known to the daemon but never up here: it has no paths.
            Some(None) => self.encode_dump(|_| false, unix_now),
        }
    }

    /// The dump of the paths whose peer `keep` accepts.
    fn encode_dump(
        &self,
        keep: impl Fn(PeerId) -> bool,
        unix_now: u32,
    ) -> Result<MrtDump, EncodeError> {
        let mut index: HashMap<PeerId, u16> = HashMap::new();
        let mut peers: Vec<MrtPeer> = Vec::new();
        let mut ribs = BytesMut::new();
        let mut dump = MrtDump::default();
        let mut sequence: u32 = 0;
        for family in [Family::Ipv4Unicast, Family::Ipv6Unicast] {
            for dest in self.rib.iter(family) {
                let mut attrs = Vec::with_capacity(dest.paths.len());
                for path in dest.paths {
                    if !keep(path.peer()) {
                        continue;
                    }
                    let Ok(a) = self.rib.attrs().attributes(path.attrs()) else {
                        continue;
                    };
                    let peer_index = match index.get(&path.peer()) {
                        Some(i) => *i,
                        None => {
                            let Some(info) = self.rib.peers().get(path.peer()) else {
                                continue;
                            };
                            let Ok(i) = u16::try_from(peers.len()) else {
                                return Err(EncodeError::Invalid("more than 65535 MRT peers"));
                            };
                            peers.push(MrtPeer {
                                bgp_id: info.bgp_id,
                                address: info.address,
                                asn: info.asn,
                            });
                            index.insert(path.peer(), i);
                            i
                        }
                    };
                    attrs.push((peer_index, a, *self.rib.next_hops().get(path.next_hop())));
                }
                if attrs.is_empty() {
                    continue;
                }
                let entries: Vec<RibEntry<'_>> = attrs
                    .iter()
                    .map(|(peer_index, a, next_hop)| RibEntry {
                        peer_index: *peer_index,
                        originated: unix_now,
                        attrs: a,
                        next_hop: *next_hop,
                    })
                    .collect();
                mrt::encode_rib(unix_now, sequence, dest.prefix, &entries, &mut ribs)?;
                sequence = sequence.wrapping_add(1);
                dump.prefixes += 1;
                dump.paths += entries.len() as u64;
            }
        }
        let mut out = BytesMut::with_capacity(ribs.len() + 64 + 25 * peers.len());
        mrt::encode_peer_index_table(unix_now, self.router_id, "", &peers, &mut out)?;
        out.extend_from_slice(&ribs);
        dump.bytes = out.to_vec();
        Ok(dump)
    }
}
