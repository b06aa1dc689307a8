//! systemd readiness (`Type=notify`): one datagram to `$NOTIFY_SOCKET` once the listeners
//! are bound and the configuration is loaded. Without systemd, nothing happens.

use std::os::unix::net::UnixDatagram;

/// Tells systemd the daemon is ready.
pub fn ready() {
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
            .and_then(|addr| sock.send_to_addr(b"READY=1", &addr))
    } else {
        sock.send_to(b"READY=1", &path)
    };
    if let Err(e) = sent {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
