//! Route tables and the BGP decision process. Not built yet: see the `rib` issue.
