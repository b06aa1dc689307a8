//! The reload diff: what changes between two valid configurations, and which sessions must be
//! reset for it. Backs `bgpd --diff` and `bgpctl reload --dry-run`, and tells the daemon what to
//! do on SIGHUP.
//!
//! Neighbors are matched by name. A change needs a session reset only when it alters what was
//! negotiated in OPEN or the transport under the session (BIRD's `bgp_reconfigure` draws the
//! same line); everything else is applied to the running session:
//!
//! | change | effect |
//! |---|---|
//! | `asn`, `router_id` | every session resets |
//! | `address`/`range`, `remote_as`, `local_address`, password, `ttl_security`, `link_local_next_hop`, `hold_time`, `keepalive`, `families`, `add_path`, `graceful_restart` | the neighbor's session resets |
//! | `import` policy (name or contents), `calico` pools | re-import: route refresh / re-run over the Adj-RIB-In |
//! | `export` policy (name or contents), `next_hop_self`, `route_reflector_client`, `max_prefixes_out` | re-export to the neighbor |
//! | `route_reflector_client`, `cluster_id` | also re-export to every other neighbor (reflection decisions change) |
//! | `max_prefixes` (+ warning, restart), `description`, `passive`, `connect_retry`, `bfd` | applied in place (BFD timers through a Poll Sequence) |
//! | `enabled` | the session is stopped (Cease / Administrative Shutdown) or started |
//! | `listen`, `[control]`, `[metrics]`, `[kernel]`, `[[originate]]` | applied in place, no session is touched |

use std::fmt;

use crate::model::{Config, Neighbor};

/// Everything a reload from one configuration to another changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Global changes that reset every session (`asn`, `router_id`), described.
    pub global_reset: Vec<String>,
    /// Global changes applied in place (listen, control, metrics, kernel, originate), described.
    pub global_soft: Vec<String>,
    /// Reasons to recompute what is exported to every neighbor.
    pub reexport_all: Vec<String>,
    /// Policies added, removed or changed, described.
    pub policies: Vec<String>,
    /// Names of neighbors only in the new configuration: sessions to start.
    pub added: Vec<String>,
    /// Names of neighbors only in the old configuration: sessions to close.
    pub removed: Vec<String>,
    /// Neighbors in both whose settings differ.
    pub changed: Vec<NeighborChange>,
    /// Every neighbor (kept from the old configuration) whose session resets, in new-file order.
    pub reset: Vec<String>,
}

impl ConfigDiff {
    /// True when the two configurations behave the same.
    pub fn is_empty(&self) -> bool {
        *self == ConfigDiff::default()
    }

    /// The change for the neighbor called `name`, if it changed.
    pub fn neighbor(&self, name: &str) -> Option<&NeighborChange> {
        self.changed.iter().find(|c| c.name == name)
    }
}

/// How one neighbor present in both configurations changed. Each list names the settings
/// (or policies) behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeighborChange {
    /// The neighbor's name.
    pub name: String,
    /// Settings whose change resets the session.
    pub reset: Vec<String>,
    /// Reasons to re-run the import policy over the neighbor's routes.
    pub reimport: Vec<String>,
    /// Reasons to re-run export towards the neighbor.
    pub reexport: Vec<String>,
    /// Settings applied in place with no route work.
    pub in_place: Vec<String>,
    /// `Some(enabled)` when `enabled` changed: stop or start the session.
    pub enabled: Option<bool>,
}

impl NeighborChange {
    /// True when the session must be reset.
    pub fn needs_reset(&self) -> bool {
        !self.reset.is_empty()
    }

    fn is_empty(&self) -> bool {
        self.reset.is_empty()
            && self.reimport.is_empty()
            && self.reexport.is_empty()
            && self.in_place.is_empty()
            && self.enabled.is_none()
    }
}

/// What a reload from `old` to `new` changes.
pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let mut d = ConfigDiff::default();
    global(old, new, &mut d);
    policies(old, new, &mut d);
    for o in &old.neighbors {
        if new.neighbor(&o.name).is_none() {
            d.removed.push(o.name.clone());
        }
    }
    for n in &new.neighbors {
        let Some(o) = old.neighbor(&n.name) else {
            d.added.push(n.name.clone());
            continue;
        };
        let change = neighbor(old, new, o, n);
        if change
            .reexport
            .iter()
            .any(|r| r == "route_reflector_client")
        {
            d.reexport_all
                .push(format!("route_reflector_client of `{}` changed", n.name));
        }
        if (!d.global_reset.is_empty() || change.needs_reset()) && n.enabled && o.enabled {
            d.reset.push(n.name.clone());
        }
        if !change.is_empty() {
            d.changed.push(change);
        }
    }
    d
}

fn global(old: &Config, new: &Config, d: &mut ConfigDiff) {
    let (o, n) = (&old.global, &new.global);
    if o.asn != n.asn {
        d.global_reset.push(format!("asn {} -> {}", o.asn, n.asn));
    }
    if o.router_id != n.router_id {
        d.global_reset
            .push(format!("router_id {} -> {}", o.router_id, n.router_id));
    }
    if o.cluster_id != n.cluster_id {
        d.reexport_all
            .push(format!("cluster_id {} -> {}", o.cluster_id, n.cluster_id));
    }
    if o.listen != n.listen {
        d.global_soft.push("listen addresses changed".to_owned());
    }
    if o.state_dir != n.state_dir {
        d.global_soft.push(format!(
            "state_dir {} -> {}",
            o.state_dir.display(),
            n.state_dir.display()
        ));
    }
    if o.selection_deferral != n.selection_deferral {
        // Read at start only: it rules the next restart.
        d.global_soft.push(format!(
            "selection_deferral {} -> {} s (for the next restart)",
            o.selection_deferral, n.selection_deferral
        ));
    }
    if old.control != new.control {
        d.global_soft.push(format!(
            "control socket {} -> {}",
            old.control.socket.display(),
            new.control.socket.display()
        ));
    }
    if old.metrics != new.metrics {
        d.global_soft.push("metrics endpoint changed".to_owned());
    }
    if old.kernel != new.kernel {
        d.global_soft.push("kernel settings changed".to_owned());
    } else if let Some(p) = new.kernel.as_ref().and_then(|k| k.export.as_deref()) {
        if old.policy(p) != new.policy(p) {
            d.global_soft
                .push(format!("kernel export policy `{p}` changed"));
        }
    }
    for o in &old.originate {
        match new.originate.iter().find(|n| n.prefix == o.prefix) {
            None => d
                .global_soft
                .push(format!("originate {} removed", o.prefix)),
            Some(n) if n != o => d
                .global_soft
                .push(format!("originate {} changed", o.prefix)),
            Some(_) => {}
        }
    }
    if old.bmp != new.bmp {
        d.global_soft.push("BMP collectors changed".to_owned());
    }
    for n in &new.originate {
        if !old.originate.iter().any(|o| o.prefix == n.prefix) {
            d.global_soft.push(format!("originate {} added", n.prefix));
        }
    }
}

fn policies(old: &Config, new: &Config, d: &mut ConfigDiff) {
    for (name, p) in &old.policies {
        match new.policies.get(name) {
            None => d.policies.push(format!("`{name}` removed")),
            Some(q) if q != p => d.policies.push(format!("`{name}` changed")),
            Some(_) => {}
        }
    }
    for name in new.policies.keys() {
        if !old.policies.contains_key(name) {
            d.policies.push(format!("`{name}` added"));
        }
    }
}

fn neighbor(old_cfg: &Config, new_cfg: &Config, o: &Neighbor, n: &Neighbor) -> NeighborChange {
    let mut c = NeighborChange {
        name: n.name.clone(),
        ..NeighborChange::default()
    };
    let mut reset = |changed: bool, what: &str| {
        if changed {
            c.reset.push(what.to_owned());
        }
    };
    reset(
        o.peer != n.peer,
        if n.is_dynamic() { "range" } else { "address" },
    );
    reset(o.remote_as != n.remote_as, "remote_as");
    reset(o.local_address != n.local_address, "local_address");
    reset(o.password != n.password, "password");
    reset(o.ttl_security != n.ttl_security, "ttl_security");
    reset(
        o.link_local_next_hop != n.link_local_next_hop,
        "link_local_next_hop",
    );
    reset(o.hold_time != n.hold_time, "hold_time");
    reset(o.keepalive != n.keepalive, "keepalive");
    reset(o.families != n.families, "families");
    reset(o.add_path != n.add_path, "add_path");
    reset(o.graceful_restart != n.graceful_restart, "graceful_restart");

    if o.calico != n.calico {
        c.reimport.push("calico pools changed".to_owned());
    }
    if let Some(why) = policy_change(old_cfg, new_cfg, &o.import, &n.import, "import") {
        c.reimport.push(why);
    }
    if let Some(why) = policy_change(old_cfg, new_cfg, &o.export, &n.export, "export") {
        c.reexport.push(why);
    }
    for (changed, what) in [
        (o.next_hop_self != n.next_hop_self, "next_hop_self"),
        (
            o.route_reflector_client != n.route_reflector_client,
            "route_reflector_client",
        ),
        (o.max_prefixes_out != n.max_prefixes_out, "max_prefixes_out"),
    ] {
        if changed {
            c.reexport.push(what.to_owned());
        }
    }
    for (changed, what) in [
        (o.max_prefixes != n.max_prefixes, "max_prefixes"),
        (
            o.max_prefixes_restart != n.max_prefixes_restart,
            "max_prefixes_restart",
        ),
        (o.description != n.description, "description"),
        (o.passive != n.passive, "passive"),
        (o.connect_retry != n.connect_retry, "connect_retry"),
        // RFC 5880 section 6.8.3: new intervals take effect through a Poll Sequence, and
        // turning BFD on or off does not touch the BGP session.
        (o.bfd != n.bfd, "bfd"),
    ] {
        if changed {
            c.in_place.push(what.to_owned());
        }
    }
    if o.enabled != n.enabled {
        c.enabled = Some(n.enabled);
    }
    c
}

/// Why a neighbor's import or export policy behaves differently, if it does.
fn policy_change(
    old_cfg: &Config,
    new_cfg: &Config,
    old: &Option<String>,
    new: &Option<String>,
    dir: &str,
) -> Option<String> {
    let show = |p: &Option<String>| p.as_ref().map_or("none".to_owned(), |p| format!("`{p}`"));
    if old != new {
        return Some(format!("{dir} policy {} -> {}", show(old), show(new)));
    }
    let name = new.as_deref()?;
    (old_cfg.policy(name) != new_cfg.policy(name)).then(|| format!("{dir} policy `{name}` changed"))
}

impl fmt::Display for ConfigDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "no changes");
        }
        for g in &self.global_reset {
            writeln!(f, "global: {g} (every session resets)")?;
        }
        for g in &self.global_soft {
            writeln!(f, "global: {g}")?;
        }
        for r in &self.reexport_all {
            writeln!(f, "re-export to every neighbor: {r}")?;
        }
        for p in &self.policies {
            writeln!(f, "policy {p}")?;
        }
        for a in &self.added {
            writeln!(f, "neighbor {a}: added (session starts)")?;
        }
        for r in &self.removed {
            writeln!(f, "neighbor {r}: removed (session closes)")?;
        }
        for c in &self.changed {
            writeln!(f, "{c}")?;
        }
        if self.reset.is_empty() {
            writeln!(f, "sessions reset: none")
        } else {
            writeln!(f, "sessions reset: {}", self.reset.join(", "))
        }
    }
}

impl fmt::Display for NeighborChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "neighbor {}:", self.name)?;
        let mut parts = Vec::new();
        match self.enabled {
            Some(true) => parts.push("enabled (session starts)".to_owned()),
            Some(false) => parts.push("disabled (session stops)".to_owned()),
            None => {}
        }
        for (label, items) in [
            ("session resets", &self.reset),
            ("re-import", &self.reimport),
            ("re-export", &self.reexport),
            ("applied in place", &self.in_place),
        ] {
            if !items.is_empty() {
                parts.push(format!("{label} ({})", items.join(", ")));
            }
        }
        write!(f, " {}", parts.join("; "))
    }
}
