//! BGP-4 messages as Rust types, with a sans-IO framer, decoder and encoder.
//!
//! No sockets, no tasks, no clocks: bytes in, typed messages out, and back. Decoding takes
//! the session's negotiated [`Context`] (4-octet AS, ADD-PATH per family, extended
//! messages); every error carries the NOTIFICATION RFC 4271 section 6 prescribes and the
//! RFC 7606 [`ErrorHandling`] that applies, so the daemon acts without parsing twice.
//!
//! ```text
//! bytes ─► Framer::next_message ─► decode(msg, ctx) ─► Message ─► encode(msg, ctx) ─► bytes
//!                                                       Update ─► UpdatePacker (many routes)
//! ```
//!
//! # Supported standards
//!
//! - RFC 4271 BGP-4: OPEN, UPDATE, NOTIFICATION, KEEPALIVE, all error codes
//! - RFC 4760 multiprotocol extensions (IPv4 and IPv6 unicast), RFC 2545 IPv6 next hops
//! - RFC 2918 route refresh, RFC 7313 enhanced route refresh
//! - RFC 5492 capabilities, RFC 9072 extended optional parameters length
//! - RFC 6793 4-octet AS numbers, with AS4_PATH / AS4_AGGREGATOR and their merge
//! - RFC 7911 ADD-PATH, RFC 8654 extended messages, RFC 8950 IPv6 next hop for IPv4
//! - RFC 4724 graceful restart, RFC 9494 long-lived graceful restart, RFC 8538 notification
//! - RFC 6396 MRT TABLE_DUMP_V2 routing table dumps ([`mrt`])
//! - RFC 7854 BMP messages, with RFC 8671 Adj-RIB-Out ([`bmp`])
//! - RFC 9234 roles and OTC, RFC 1997 communities, RFC 4360 extended communities,
//!   RFC 8092 large communities, RFC 4456 ORIGINATOR_ID and CLUSTER_LIST
//! - RFC 7606 revised error handling, RFC 8203 / RFC 9003 shutdown communication

pub mod attr;
pub mod bmp;
pub mod capability;
mod context;
mod error;
mod family;
mod framer;
#[doc(hidden)]
#[allow(clippy::panic)] // a failed check must crash the fuzzer
pub mod fuzzing;
mod message;
pub mod mrt;
mod nlri;
pub mod notification;
mod open;
mod pack;
mod route_refresh;
mod update;

pub use context::{Context, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};
pub use error::{DecodeError, EncodeError, ErrorHandling, Reason};
pub use family::{Family, FamilySet, AFI_IPV4, AFI_IPV6, SAFI_UNICAST};
pub use framer::Framer;
pub use message::{decode, encode, encode_to_bytes, encode_update, kind, kind_name, Message};
pub use nlri::Nlri;
pub use notification::Notification;
pub use open::{Open, OptionalParameter, AS_TRANS};
pub use pack::UpdatePacker;
pub use route_refresh::{RefreshSubtype, RouteRefresh};
pub use update::{Announced, Update};
