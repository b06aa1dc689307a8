//! The bgpd daemon. Not built yet: see the daemon issue.

fn main() {
    eprintln!("bgpd: the daemon is not built yet (see the README's status table)");
    std::process::exit(2);
}
