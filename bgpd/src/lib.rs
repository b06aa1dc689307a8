//! The `bgpd` daemon as a library: the parts that need no sockets, so they are tested
//! without any.
//!
//! - [`session`]: the BGP session state machine (RFC 4271 section 8) and OPEN negotiation.

pub mod session;
