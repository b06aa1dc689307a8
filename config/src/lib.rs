//! The bgpd configuration: TOML schema, validation and reload diff. Not built yet.
