//! Attribute lists in wire form, read and written without decoding them: a route table
//! keeps each set as its encoding, and rewriting or sending that encoding directly saves
//! building a [`PathAttributes`](super::PathAttributes) for every exported set.

use bytes::{BufMut, BytesMut};

use super::flags::EXTENDED_LENGTH;
use crate::error::{checked_len, EncodeError};

/// One attribute of an encoded list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttr<'a> {
    /// The flag byte as written.
    pub flags: u8,
    /// The type code.
    pub type_code: u8,
    /// The value.
    pub value: &'a [u8],
}

impl RawAttr<'_> {
    /// Writes it back: flags, type, length, value.
    pub fn put(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        put_raw(out, self.flags, self.type_code, &[self.value])
    }
}

/// A list that does not parse: a header or value runs past the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

/// The attributes of an encoded list, in order. An item is `Err` (and the last) where a
/// header or value runs past the end.
pub fn raw_attributes(bytes: &[u8]) -> RawAttrs<'_> {
    RawAttrs { rest: bytes }
}

/// Iterator of [`raw_attributes`].
#[derive(Debug, Clone)]
pub struct RawAttrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RawAttrs<'a> {
    type Item = Result<RawAttr<'a>, Truncated>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&flags, rest) = self.rest.split_first()?;
        let parsed = (|| {
            let (&type_code, rest) = rest.split_first()?;
            let (len, rest) = if flags & EXTENDED_LENGTH != 0 {
                let (len, rest) = rest.split_first_chunk::<2>()?;
                (usize::from(u16::from_be_bytes(*len)), rest)
            } else {
                let (&len, rest) = rest.split_first()?;
                (usize::from(len), rest)
            };
            let (value, rest) = rest.split_at_checked(len)?;
            Some((
                RawAttr {
                    flags,
                    type_code,
                    value,
                },
                rest,
            ))
        })();
        match parsed {
            Some((attr, rest)) => {
                self.rest = rest;
                Some(Ok(attr))
            }
            None => {
                self.rest = &[];
                Some(Err(Truncated))
            }
        }
    }
}

/// Writes one attribute whose value is `parts` one after the other. The Extended Length
/// flag is set when the value needs it or `flags` already has it (as
/// [`PathAttributes`](super::PathAttributes) encoding does).
pub fn put_raw(
    out: &mut BytesMut,
    flags: u8,
    type_code: u8,
    parts: &[&[u8]],
) -> Result<(), EncodeError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > 255 || flags & EXTENDED_LENGTH != 0 {
        out.put_u8(flags | EXTENDED_LENGTH);
        out.put_u8(type_code);
        out.put_u16(checked_len("path attribute", len, 0xffff)?);
    } else {
        out.put_u8(flags);
        out.put_u8(type_code);
        out.put_u8(checked_len("path attribute", len, 255)?);
    }
    for p in parts {
        out.put_slice(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{AttrValue, Attribute, Community, PathAttributes};
    use crate::Context;

    #[test]
    fn reads_back_what_encoding_wrote() {
        let mut attrs = PathAttributes::from_values([
            AttrValue::Med(7),
            AttrValue::Communities((0..100).map(Community).collect()),
        ]);
        attrs.list.push(Attribute {
            flags: 0xc0 | EXTENDED_LENGTH,
            value: AttrValue::Unknown {
                type_code: 99,
                value: bytes::Bytes::from_static(b"xy"),
            },
        });
        let mut wire = BytesMut::new();
        attrs.encode(&Context::default(), &mut wire).unwrap();
        let raw: Vec<RawAttr<'_>> = raw_attributes(&wire).collect::<Result<_, _>>().unwrap();
        assert_eq!(raw.len(), 3);
        assert_eq!((raw[0].type_code, raw[0].value), (4, &[0, 0, 0, 7][..]));
        assert_eq!(raw[1].value.len(), 400);
        assert_ne!(raw[1].flags & EXTENDED_LENGTH, 0);
        assert_eq!((raw[2].type_code, raw[2].value), (99, &b"xy"[..]));
        let mut again = BytesMut::new();
        for a in &raw {
            a.put(&mut again).unwrap();
        }
        assert_eq!(again, wire);
        // Cut anywhere inside the last attribute: the parsed ones, then one error.
        let cut = &wire[..wire.len() - 1];
        let items: Vec<_> = raw_attributes(cut).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], Err(Truncated));
    }
}
