//! A deliberately misbehaving BGP speaker (filled in below).
