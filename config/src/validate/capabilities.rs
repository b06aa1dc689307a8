//! Neighbor capabilities negotiated in OPEN: address families (RFC 4760), ADD-PATH
//! (RFC 7911) and graceful restart (RFC 4724, RFC 9494). A change to any of them resets the
//! session on reload.

use std::collections::BTreeMap;

use super::helpers::Checker;
use super::neighbor::flag;
use crate::model::{GracefulRestart, Peer};
use crate::schema::{GracefulRestartSchema, NeighborSchema};
use crate::types::{AddPathMode, AddressFamily, RestartTime, StaleTime};

/// `families`, defaulting to the transport's family.
pub(super) fn families(
    ck: &mut Checker<'_, '_>,
    s: &NeighborSchema,
    peer: Option<Peer>,
) -> Option<Vec<AddressFamily>> {
    let Some(list) = &s.families else {
        return Some(vec![match peer {
            Some(p) if !p.is_ipv4() => AddressFamily::Ipv6Unicast,
            _ => AddressFamily::Ipv4Unicast,
        }]);
    };
    if list.get_ref().is_empty() {
        ck.error(list.span(), "`families` must not be empty");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for f in list.get_ref() {
        match f.get_ref().parse::<AddressFamily>() {
            Ok(fam) if out.contains(&fam) => {
                ck.error(f.span(), format!("`{fam}` is listed twice in `families`"));
                ok = false;
            }
            Ok(fam) => out.push(fam),
            Err(()) => {
                ck.error(
                    f.span(),
                    format!(
                        "unknown address family `{}`, expected `ipv4-unicast` or `ipv6-unicast`",
                        f.get_ref()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `add_path = { FAMILY = "send" | "receive" | "both" }`.
pub(super) fn add_path(
    ck: &mut Checker<'_, '_>,
    s: &NeighborSchema,
    families: &Option<Vec<AddressFamily>>,
) -> Option<BTreeMap<AddressFamily, AddPathMode>> {
    let Some(table) = &s.add_path else {
        return Some(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (fam, mode) in table.get_ref() {
        let family = match fam.get_ref().parse::<AddressFamily>() {
            Ok(f) => f,
            Err(()) => {
                ck.error(
                    fam.span(),
                    format!(
                        "unknown address family `{}`, expected `ipv4-unicast` or `ipv6-unicast`",
                        fam.get_ref()
                    ),
                );
                ok = false;
                continue;
            }
        };
        if families.as_ref().is_some_and(|fs| !fs.contains(&family)) {
            ck.error(
                fam.span(),
                format!("ADD-PATH for `{family}`, which is not in the neighbor's `families`"),
            );
            ok = false;
        }
        match mode.get_ref().parse::<AddPathMode>() {
            Ok(m) => {
                out.insert(family, m);
            }
            Err(()) => {
                ck.error(
                    mode.span(),
                    format!(
                        "`add_path` must be `send`, `receive` or `both`, not `{}`",
                        mode.get_ref()
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `graceful_restart = { enabled, restart_time, long_lived_stale_time }`.
pub(super) fn graceful_restart(
    ck: &mut Checker<'_, '_>,
    g: &GracefulRestartSchema,
) -> Option<GracefulRestart> {
    let default = GracefulRestart::default();
    let restart_time = g
        .restart_time
        .as_ref()
        .map_or(Some(default.restart_time), |r| {
            ck.int_as::<u16>(r, "restart_time", 0, 4095)
                .and_then(RestartTime::new)
        });
    let stale = g
        .long_lived_stale_time
        .as_ref()
        .map_or(Some(default.long_lived_stale_time), |s| {
            ck.int_as::<u32>(s, "long_lived_stale_time", 0, i64::from(StaleTime::MAX))
                .and_then(StaleTime::new)
        });
    Some(GracefulRestart {
        enabled: flag(&g.enabled, default.enabled),
        restart_time: restart_time?,
        long_lived_stale_time: stale?,
    })
}
