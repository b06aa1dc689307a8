//! systemd notifications (`Type=notify`): readiness once the listeners are bound and the
//! configuration is loaded, then watchdog pings. Without systemd, nothing happens.

use std::os::unix::net::UnixDatagram;

/// Tells systemd the daemon is ready.
pub fn ready() {
    send(b"READY=1");
}

/// Tells systemd's watchdog (`WatchdogSec=`) the daemon is alive; called from the main
/// loop every 2 s, so a wedged loop gets the service restarted.
pub fn watchdog() {
    if std::env::var_os("WATCHDOG_USEC").is_some() {
        send(b"WATCHDOG=1");
    }
}

fn send(message: &[u8]) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    // Abstract sockets are written with a leading '@' (sd_notify(3)).
    let bytes = path.as_encoded_bytes();
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(message, &addr))
    } else {
        sock.send_to(message, &path)
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
