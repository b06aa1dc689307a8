//! ROUTE-REFRESH (RFC 2918) with the enhanced route refresh subtypes (RFC 7313).
//!
//! ```text
//! AFI(2) subtype(1) SAFI(1)
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, ErrorHandling, Reason};
use crate::family::Family;

/// The message subtype (RFC 7313 section 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshSubtype {
    /// 0: a plain route refresh request.
    Request,
    /// 1: Beginning of Route Refresh.
    Begin,
    /// 2: End of Route Refresh.
    End,
    /// Any other value; RFC 7313 says to ignore the message.
    Other(u8),
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: Family,
    /// Request, or the enhanced route refresh markers.
    pub subtype: RefreshSubtype,
}

impl RouteRefresh {
    /// A plain request for a family.
    pub fn request(family: Family) -> Self {
        Self {
            family,
            subtype: RefreshSubtype::Request,
        }
    }

    pub(crate) fn decode(body: &[u8], whole: &[u8]) -> Result<Self, DecodeError> {
        let [a, b, subtype, safi] = body else {
            // RFC 7313 section 5: the data is the complete message.
            let len = u16::try_from(whole.len()).unwrap_or(u16::MAX);
            return Err(DecodeError::with_data(
                "ROUTE-REFRESH",
                Reason::RouteRefreshLength(len),
                ErrorHandling::SessionReset,
                Bytes::copy_from_slice(whole),
            ));
        };
        let subtype = match subtype {
            0 => RefreshSubtype::Request,
            1 => RefreshSubtype::Begin,
            2 => RefreshSubtype::End,
            x => RefreshSubtype::Other(*x),
        };
        Ok(Self {
            family: Family::from_afi_safi(u16::from_be_bytes([*a, *b]), *safi),
            subtype,
        })
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u16(self.family.afi());
        out.put_u8(match self.subtype {
            RefreshSubtype::Request => 0,
            RefreshSubtype::Begin => 1,
            RefreshSubtype::End => 2,
            RefreshSubtype::Other(x) => x,
        });
        out.put_u8(self.family.safi());
        Ok(())
    }
}
