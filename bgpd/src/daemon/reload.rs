//! Reload (SIGHUP, `bgpctl reload`): apply the configuration diff, resetting only the
//! sessions whose settings require it; a configuration that does not validate is refused
//! and the running one kept.

use std::sync::Arc;

use bgp_wire::notification::cease;
use bgp_wire::Notification;
use config::{Config, Peer};
use tracing::{info, warn};

use crate::control::protocol::Response;
use crate::daemon::Daemon;
use crate::exchange::{policy, ExportSettings, PeerCommand, PeerKey, Reconfigure};
use crate::routing::RoutingInput;

impl Daemon {
    /// Reloads the configuration file; with `dry_run`, only says what would change.
    pub async fn reload(&mut self, dry_run: bool) -> Response {
        let new = match Config::load(&self.config_path) {
            Ok((new, warnings)) => {
                for w in &warnings {
                    warn!("{w}");
                }
                new
            }
            Err(diags) => {
                for d in &diags {
                    warn!("reload refused: {d}");
                }
                return Response::ReloadResult {
                    applied: false,
                    diff: String::new(),
                    errors: diags.iter().map(ToString::to_string).collect(),
                };
            }
        };
        let diff = config::diff(&self.config, &new);
        let text = if diff.is_empty() {
            "no changes".to_owned()
        } else {
            diff.to_string()
        };
        if dry_run {
            return Response::ReloadResult {
                applied: false,
                diff: text,
                errors: Vec::new(),
            };
        }
        if !diff.global_reset.is_empty() {
            let errors = vec![format!(
                "{}: these change every session; restart bgpd to apply them",
                diff.global_reset.join(", ")
            )];
            return Response::ReloadResult {
                applied: false,
                diff: text,
                errors,
            };
        }
        let new = Arc::new(new);
        self.config = new.clone();
        for name in &diff.removed {
            info!(neighbor = %name, "removed from the configuration: closing");
            self.close(name, cease::PEER_DECONFIGURED).await;
        }
        for name in &diff.reset {
            info!(neighbor = %name, "settings changed: resetting the session");
            self.close(name, cease::OTHER_CONFIG_CHANGE).await;
            self.spawn_fixed(&new, name);
        }
        for name in &diff.added {
            info!(neighbor = %name, "added to the configuration");
            self.spawn_fixed(&new, name);
        }
        for change in diff.changed.iter().filter(|c| !c.needs_reset()) {
            let Some(n) = new.neighbor(&change.name) else {
                continue;
            };
            if let Some(enabled) = change.enabled {
                let cmd = || {
                    if enabled {
                        PeerCommand::Start
                    } else {
                        PeerCommand::Stop {
                            graceful: false,
                            notification: Some(Box::new(Notification::cease_with_message(
                                cease::ADMIN_SHUTDOWN,
                                "disabled in the configuration",
                            ))),
                        }
                    }
                };
                self.send_all(&change.name, cmd).await;
            }
            let reimport = !change.reimport.is_empty();
            let reexport = !change.reexport.is_empty() || !diff.reexport_all.is_empty();
            if reimport || reexport || !change.in_place.is_empty() {
                let r = reconfigure(&new, n, reimport, reexport);
                self.send_all(&change.name, || {
                    PeerCommand::Reconfigure(Box::new(r.clone()))
                })
                .await;
            }
        }
        if !diff.reexport_all.is_empty() {
            let changed: Vec<&str> = diff.changed.iter().map(|c| c.name.as_str()).collect();
            for n in new
                .neighbors
                .iter()
                .filter(|n| !changed.contains(&n.name.as_str()))
            {
                let r = reconfigure(&new, n, false, true);
                self.send_all(&n.name, || PeerCommand::Reconfigure(Box::new(r.clone())))
                    .await;
            }
        }
        self.bfd.configure(crate::bfd::BfdPeer::of(&new)).await;
        self.bmp.configure(&new.bmp);
        let _ = self
            .routing
            .send(RoutingInput::Globals {
                cluster_id: new.global.cluster_id.get(),
                originate: new.originate.clone(),
            })
            .await;
        info!("configuration reloaded");
        Response::ReloadResult {
            applied: true,
            diff: text,
            errors: Vec::new(),
        }
    }

    fn keys_of(&self, name: &str) -> Vec<PeerKey> {
        self.peers
            .iter()
            .filter(|(_, h)| h.status.lock().is_ok_and(|s| s.name == name))
            .map(|(k, _)| *k)
            .collect()
    }

    async fn send_all(&self, name: &str, cmd: impl Fn() -> PeerCommand) {
        for k in self.keys_of(name) {
            if let Some(h) = self.peers.get(&k) {
                let _ = h.commands.send(cmd()).await;
            }
        }
    }

    /// Closes every session of a neighbor with a Cease and forgets it.
    async fn close(&mut self, name: &str, subcode: u8) {
        for k in self.keys_of(name) {
            if let Some(h) = self.peers.remove(&k) {
                let _ = h
                    .commands
                    .send(PeerCommand::Stop {
                        graceful: false,
                        notification: Some(Box::new(Notification::new(
                            bgp_wire::notification::CEASE,
                            subcode,
                            bytes::Bytes::new(),
                        ))),
                    })
                    .await;
                if let Ok(s) = h.status.lock() {
                    self.forget_address(s.address);
                }
            }
        }
    }

    fn spawn_fixed(&mut self, config: &Config, name: &str) {
        let Some(n) = config.neighbor(name) else {
            return;
        };
        if let Peer::Address(a) = n.peer {
            if let Err(e) = self.spawn_peer(n, a, n.enabled) {
                warn!(neighbor = %name, error = %e, "cannot start the session");
            }
        }
    }
}

fn reconfigure(
    config: &Config,
    n: &config::Neighbor,
    reimport: bool,
    reexport: bool,
) -> Reconfigure {
    Reconfigure {
        import_policy: policy(config, n.import.as_deref()),
        export: ExportSettings::of(config, n),
        reimport,
        reexport,
        calico: n.calico.clone().map(std::sync::Arc::new),
    }
}
