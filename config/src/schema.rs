//! The first layer: the TOML file as serde structs, exactly as written, with spans.
//!
//! Every struct denies unknown keys (a typo is an error, never a silently ignored setting) and
//! keeps values as TOML gives them (`i64`, `String`) wrapped in [`Spanned`], so that the second
//! layer (`validate`) can range-check them and point at the offending value. Nothing here has a
//! default or a meaning; that is the model's job.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A string value with its span.
pub(crate) type Str = Spanned<String>;
/// An integer value with its span.
pub(crate) type Int = Spanned<i64>;
/// A boolean value with its span.
pub(crate) type Bool = Spanned<bool>;

/// `[global]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GlobalSchema {
    pub asn: Int,
    pub router_id: Str,
    pub listen: Option<Spanned<Vec<Str>>>,
    pub cluster_id: Option<Str>,
    pub state_dir: Option<Str>,
    pub selection_deferral: Option<Int>,
}

/// `[control]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlSchema {
    pub socket: Option<Str>,
}

/// `[metrics]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsSchema {
    pub enabled: Option<Bool>,
    pub listen: Option<Str>,
}

/// `[kernel]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KernelSchema {
    pub enabled: Option<Bool>,
    pub table: Option<Int>,
    pub export: Option<Str>,
}

/// One `[[bmp]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BmpSchema {
    pub address: Str,
    pub statistics_interval: Option<Int>,
    pub adj_rib_out: Option<Bool>,
}

/// One `[[originate]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OriginateSchema {
    pub prefix: Str,
    pub require_more_specific: Option<Bool>,
}

/// One `[[neighbor]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NeighborSchema {
    pub name: Str,
    pub description: Option<Str>,
    pub enabled: Option<Bool>,
    pub address: Option<Str>,
    pub range: Option<Str>,
    pub remote_as: Int,
    pub local_address: Option<Str>,
    pub passive: Option<Bool>,
    pub route_reflector_client: Option<Bool>,
    pub next_hop_self: Option<Bool>,
    pub link_local_next_hop: Option<Bool>,
    pub hold_time: Option<Int>,
    pub keepalive: Option<Int>,
    pub connect_retry: Option<Int>,
    pub password: Option<Str>,
    pub password_file: Option<Str>,
    pub ttl_security: Option<Int>,
    pub import: Option<Str>,
    pub export: Option<Str>,
    pub max_prefixes: Option<Int>,
    pub max_prefixes_warning: Option<Int>,
    pub max_prefixes_restart: Option<Int>,
    pub max_prefixes_out: Option<Int>,
    pub max_prefixes_out_warning: Option<Int>,
    pub families: Option<Spanned<Vec<Str>>>,
    pub add_path: Option<Spanned<BTreeMap<Str, Str>>>,
    pub graceful_restart: Option<Spanned<GracefulRestartSchema>>,
    pub bfd: Option<Spanned<BfdSchema>>,
    pub calico: Option<Spanned<CalicoSchema>>,
}

/// `calico = { pools = [...], block_size = 26, block_size_v6 = 122 }` on a range neighbor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalicoSchema {
    pub pools: Spanned<Vec<Str>>,
    pub block_size: Option<Int>,
    pub block_size_v6: Option<Int>,
}

/// `bfd = true | false | { min_rx, min_tx, multiplier }` inside a neighbor.
#[derive(Debug)]
pub(crate) enum BfdSchema {
    /// `bfd = true` (the defaults) or `bfd = false` (off).
    Flag(bool),
    /// `bfd = { ... }`: on, with these settings.
    Table(Box<BfdTableSchema>),
}

/// The table form of `bfd`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BfdTableSchema {
    pub min_rx: Option<Int>,
    pub min_tx: Option<Int>,
    pub multiplier: Option<Int>,
    pub auth: Option<Str>,
    pub key_id: Option<Int>,
    pub password: Option<Str>,
}

impl<'de> Deserialize<'de> for BfdSchema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = BfdSchema;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("`true`, `false` or a table `{ min_rx, min_tx, multiplier, ... }`")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<BfdSchema, E> {
                Ok(BfdSchema::Flag(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<BfdSchema, A::Error> {
                // The table's own deserializer, so that its values keep their spans.
                BfdTableSchema::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|t| BfdSchema::Table(Box::new(t)))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `graceful_restart = { ... }` inside a neighbor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GracefulRestartSchema {
    pub enabled: Option<Bool>,
    pub restart_time: Option<Int>,
    pub long_lived_stale_time: Option<Int>,
}

/// `[policy.NAME]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicySchema {
    pub default: Option<Str>,
    /// Always absent when deserialized: `load` takes `term` out of the table first and reads
    /// each term on its own into `terms` (so one bad term does not hide the others). Declared
    /// so that "unknown key" messages list it.
    #[allow(dead_code)]
    pub term: Option<serde::de::IgnoredAny>,
    /// The terms, in file order.
    #[serde(skip)]
    pub terms: Vec<Spanned<TermSchema>>,
}

/// One `[[policy.NAME.term]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TermSchema {
    pub name: Option<Str>,
    pub prefixes: Option<Vec<Str>>,
    pub communities: Option<Vec<Str>>,
    pub large_communities: Option<Vec<Str>>,
    pub as_path: Option<Spanned<AsPathSchema>>,
    pub neighbor: Option<Vec<Str>>,
    pub action: Str,
    pub set: Option<Spanned<SetSchema>>,
}

/// `as_path = { ... }` inside a term.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsPathSchema {
    pub contains: Option<Vec<Int>>,
    pub origin: Option<Vec<Int>>,
    pub min_length: Option<Int>,
    pub max_length: Option<Int>,
}

/// `set = { ... }` inside a term.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetSchema {
    pub local_pref: Option<Int>,
    pub med: Option<Int>,
    pub communities_add: Option<Vec<Str>>,
    pub communities_remove: Option<Vec<Str>>,
    pub large_communities_add: Option<Vec<Str>>,
    pub large_communities_remove: Option<Vec<Str>>,
    pub as_path_prepend: Option<Spanned<PrependSchema>>,
    pub next_hop_self: Option<Bool>,
}

/// `as_path_prepend = { asn = ..., count = ... }` inside a `set`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrependSchema {
    pub asn: Option<Int>,
    pub count: Option<Int>,
}

/// The whole file, split into the pieces that are deserialized separately (so that a mistake
/// in one neighbor does not hide the mistakes in the next).
#[derive(Debug, Default)]
pub(crate) struct Document {
    /// `[global]` was in the file (even if it had errors).
    pub global_present: bool,
    pub global: Option<Spanned<GlobalSchema>>,
    pub control: Option<ControlSchema>,
    pub metrics: Option<MetricsSchema>,
    pub kernel: Option<Spanned<KernelSchema>>,
    pub originate: Vec<Spanned<OriginateSchema>>,
    pub bmp: Vec<Spanned<BmpSchema>>,
    pub neighbors: Vec<Spanned<NeighborSchema>>,
    pub policies: Vec<(Str, Spanned<PolicySchema>)>,
}

/// The top-level tables and what they hold, for the unknown-key message.
pub(crate) const TOP_LEVEL_KEYS: [&str; 8] = [
    "global",
    "control",
    "metrics",
    "kernel",
    "originate",
    "bmp",
    "neighbor",
    "policy",
];
