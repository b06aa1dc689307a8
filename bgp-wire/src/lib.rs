//! BGP-4 messages as Rust types, with a sans-IO decoder and encoder.
