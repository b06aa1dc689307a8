//! Our interfaces' addresses, for the IPv6 link-local next hop of RFC 2545 section 3: on a
//! session whose peer shares a subnet with us, the next hop we send is our global address
//! and the link-local address of the interface the session runs over.

use std::net::{IpAddr, Ipv6Addr};

/// One IPv6 address of an interface, as `getifaddrs(3)` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// Interface name.
    pub interface: String,
    /// The address.
    pub address: Ipv6Addr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// Whether `a` is an IPv6 link-local unicast address (fe80::/10).
pub fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// The link-local address to send beside `local` to `peer`: the one of the interface that
/// holds `local` on a subnet that also holds `peer` (RFC 2545 section 3: "if and only if
/// the BGP speaker shares a common subnet" with the peer). `None` for IPv4, for a peer
/// behind a router, and for an interface without a link-local address.
pub fn shared_link_local(
    addresses: &[InterfaceAddress],
    local: IpAddr,
    peer: IpAddr,
) -> Option<Ipv6Addr> {
    let (IpAddr::V6(local), IpAddr::V6(peer)) = (local.to_canonical(), peer.to_canonical()) else {
        return None;
    };
    let interface = &addresses
        .iter()
        .find(|a| {
            a.address == local
                && ipnet::Ipv6Net::new(a.address, a.prefix_len).is_ok_and(|n| n.contains(&peer))
        })?
        .interface;
    addresses
        .iter()
        .find(|a| &a.interface == interface && is_link_local(&a.address))
        .map(|a| a.address)
}

/// Every IPv6 address of every interface (in the daemon's network namespace).
pub fn ipv6_addresses() -> std::io::Result<Vec<InterfaceAddress>> {
    let all = nix::ifaddrs::getifaddrs().map_err(std::io::Error::from)?;
    Ok(all
        .filter_map(|ifa| {
            let address = ifa.address.as_ref()?.as_sockaddr_in6()?.ip();
            let mask = ifa.netmask.as_ref()?.as_sockaddr_in6()?.ip();
            let prefix_len = u8::try_from(u128::from(mask).leading_ones()).unwrap_or(128);
            Some(InterfaceAddress {
                interface: ifa.interface_name,
                address,
                prefix_len,
            })
        })
        .collect())
}

/// [`shared_link_local`] over the interfaces as they are now; `None` when they cannot be
/// read (the next hop is then the global address alone, which is still valid).
pub fn link_local_towards(local: IpAddr, peer: IpAddr) -> Option<Ipv6Addr> {
    if !matches!(local.to_canonical(), IpAddr::V6(_)) {
        return None;
    }
    shared_link_local(&ipv6_addresses().ok()?, local, peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(interface: &str, s: &str) -> InterfaceAddress {
        let (addr, len) = s.split_once('/').unwrap();
        InterfaceAddress {
            interface: interface.to_owned(),
            address: addr.parse().unwrap(),
            prefix_len: len.parse().unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn table() -> Vec<InterfaceAddress> {
        vec![
            a("lo", "::1/128"),
            a("up0", "2001:db8:113::1/126"),
            a("up0", "fe80::1:1/64"),
            a("lan0", "2001:db8:0:2::1/64"),
            a("lan0", "fe80::2:1/64"),
            a("lo1", "2001:db8:ffff::1/128"),
        ]
    }

    #[test]
    fn a_peer_on_our_subnet_gets_that_interfaces_link_local() {
        let t = table();
        assert_eq!(
            shared_link_local(&t, ip("2001:db8:113::1"), ip("2001:db8:113::2")),
            Some("fe80::1:1".parse().unwrap())
        );
        assert_eq!(
            shared_link_local(&t, ip("2001:db8:0:2::1"), ip("2001:db8:0:2::11")),
            Some("fe80::2:1".parse().unwrap())
        );
    }

    #[test]
    fn no_link_local_across_a_router_for_ipv4_or_without_one() {
        let t = table();
        // The peer is not on the subnet of our address (multihop).
        assert_eq!(
            shared_link_local(&t, ip("2001:db8:113::1"), ip("2001:db8:5::2")),
            None
        );
        // Our address is a loopback /128: nothing is on its subnet.
        assert_eq!(
            shared_link_local(&t, ip("2001:db8:ffff::1"), ip("2001:db8:113::2")),
            None
        );
        assert_eq!(
            shared_link_local(&t, ip("192.0.2.1"), ip("192.0.2.2")),
            None
        );
        let no_ll = vec![a("up0", "2001:db8:113::1/126")];
        assert_eq!(
            shared_link_local(&no_ll, ip("2001:db8:113::1"), ip("2001:db8:113::2")),
            None
        );
    }

    #[test]
    fn link_local_is_fe80_slash_10() {
        assert!(is_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_link_local(&"2001:db8::1".parse().unwrap()));
    }
}
