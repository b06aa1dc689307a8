//! Whole messages: the header (RFC 4271 section 4.1) and dispatch to each message type.

use bytes::{BufMut, Bytes, BytesMut};

use crate::context::{Context, HEADER_LEN, MAX_MESSAGE_LEN};
use crate::error::{checked_len, DecodeError, EncodeError, ErrorHandling, Reason};
use crate::framer::check_header;
use crate::notification::Notification;
use crate::open::Open;
use crate::route_refresh::RouteRefresh;
use crate::update::Update;

/// Message type codes.
pub mod kind {
    /// OPEN.
    pub const OPEN: u8 = 1;
    /// UPDATE.
    pub const UPDATE: u8 = 2;
    /// NOTIFICATION.
    pub const NOTIFICATION: u8 = 3;
    /// KEEPALIVE.
    pub const KEEPALIVE: u8 = 4;
    /// ROUTE-REFRESH (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 5;
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The type code.
    pub fn kind(&self) -> u8 {
        match self {
            Message::Open(_) => kind::OPEN,
            Message::Update(_) => kind::UPDATE,
            Message::Notification(_) => kind::NOTIFICATION,
            Message::Keepalive => kind::KEEPALIVE,
            Message::RouteRefresh(_) => kind::ROUTE_REFRESH,
        }
    }

    /// The type's name, for logs and metrics labels.
    pub fn kind_name(&self) -> &'static str {
        kind_name(self.kind())
    }
}

/// The name of a message type code.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        kind::OPEN => "open",
        kind::UPDATE => "update",
        kind::NOTIFICATION => "notification",
        kind::KEEPALIVE => "keepalive",
        kind::ROUTE_REFRESH => "route_refresh",
        _ => "unknown",
    }
}

/// Decodes one complete message, header included (as cut by [`crate::Framer`]).
pub fn decode(msg: &[u8], ctx: &Context) -> Result<Message, DecodeError> {
    let header = msg.get(..HEADER_LEN).ok_or_else(|| {
        DecodeError::reset(
            "message header",
            Reason::BadLength(u16::try_from(msg.len()).unwrap_or(0)),
        )
    })?;
    check_header(header, ctx.max_message_len())?;
    let len = u16::from_be_bytes([header[16], header[17]]);
    if usize::from(len) != msg.len() {
        return Err(bad_length(len));
    }
    let body = &msg[HEADER_LEN..];
    let kind = header[18];
    // RFC 4271 section 6.1: lengths each type cannot have. RFC 8654 section 5: OPEN and
    // KEEPALIVE never exceed 4096 octets.
    let len_ok = match kind {
        kind::OPEN => (29..=MAX_MESSAGE_LEN).contains(&msg.len()),
        kind::UPDATE => msg.len() >= 23,
        kind::NOTIFICATION => msg.len() >= 21,
        kind::KEEPALIVE => msg.len() == HEADER_LEN,
        _ => true,
    };
    if !len_ok {
        return Err(bad_length(len));
    }
    match kind {
        kind::OPEN => Open::decode(body).map(Message::Open),
        kind::UPDATE => Update::decode(body, ctx).map(Message::Update),
        kind::NOTIFICATION => Notification::decode(body).map(Message::Notification),
        kind::KEEPALIVE => Ok(Message::Keepalive),
        kind::ROUTE_REFRESH => RouteRefresh::decode(body, msg).map(Message::RouteRefresh),
        other => Err(DecodeError::with_data(
            "message header",
            Reason::BadType(other),
            ErrorHandling::SessionReset,
            Bytes::copy_from_slice(&[other]),
        )),
    }
}

fn bad_length(len: u16) -> DecodeError {
    DecodeError::with_data(
        "message header",
        Reason::BadLength(len),
        ErrorHandling::SessionReset,
        Bytes::copy_from_slice(&len.to_be_bytes()),
    )
}

/// Encodes one message, header included, appending to `out`. Fails rather than write a
/// message longer than the session allows.
pub fn encode(msg: &Message, ctx: &Context, out: &mut BytesMut) -> Result<(), EncodeError> {
    let max = match msg {
        Message::Open(_) | Message::Keepalive => MAX_MESSAGE_LEN,
        _ => ctx.max_message_len(),
    };
    framed(msg.kind(), max, out, |out| match msg {
        Message::Open(o) => o.encode_body(out),
        Message::Update(u) => u.encode_body(ctx, out),
        Message::Notification(n) => n.encode_body(out),
        Message::Keepalive => Ok(()),
        Message::RouteRefresh(r) => r.encode_body(out),
    })
}

/// Encodes a borrowed UPDATE, header included, appending to `out` (a monitor re-encodes
/// what it observed without taking it).
pub fn encode_update(
    update: &Update,
    ctx: &Context,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    framed(kind::UPDATE, ctx.max_message_len(), out, |out| {
        update.encode_body(ctx, out)
    })
}

/// Writes the header around what `body` appends; on error `out` is left as it was.
fn framed(
    kind: u8,
    max: usize,
    out: &mut BytesMut,
    body: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_slice(&[0xff; 16]);
    out.put_u16(0);
    out.put_u8(kind);
    let len = body(out).and_then(|()| checked_len::<u16>("message", out.len() - start, max));
    match len {
        Ok(len) => {
            out[start + 16..start + 18].copy_from_slice(&len.to_be_bytes());
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Encodes one message into a new buffer.
pub fn encode_to_bytes(msg: &Message, ctx: &Context) -> Result<Bytes, EncodeError> {
    let mut out = BytesMut::new();
    encode(msg, ctx, &mut out)?;
    Ok(out.freeze())
}
