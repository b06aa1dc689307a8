//! `[[bmp]]`: the BMP collectors (RFC 7854).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::helpers::Checker;
use super::socket_addr;
use crate::model::Bmp;
use crate::schema::Document;

/// pmacct's default port; RFC 7854 assigns none.
pub(crate) const BMP_PORT: u16 = 1790;
/// Seconds between Statistics Reports when `statistics_interval` is left out.
const DEFAULT_STATISTICS_INTERVAL: u16 = 60;

/// Every `[[bmp]]`, in file order; a second one with the same address is an error.
pub(super) fn collectors(ck: &mut Checker<'_, '_>, doc: &Document) -> Vec<Bmp> {
    let mut seen: BTreeMap<SocketAddr, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for b in &doc.bmp {
        let b = b.get_ref();
        let Some(address) = socket_addr(b.address.get_ref(), BMP_PORT) else {
            ck.error(
                b.address.span(),
                format!(
                    "`address` must be ADDRESS:PORT or ADDRESS (port {BMP_PORT}), not `{}`",
                    b.address.get_ref()
                ),
            );
            continue;
        };
        if let Some(first) = seen.get(&address) {
            let line = ck.diags.line_of(*first);
            ck.error(
                b.address.span(),
                format!("BMP collector `{address}` is already configured at line {line}"),
            );
            continue;
        }
        seen.insert(address, b.address.span().start);
        // 0 turns the reports off; RFC 7854 section 4.8 leaves the interval to the router.
        let statistics_interval = match &b.statistics_interval {
            None => Some(DEFAULT_STATISTICS_INTERVAL),
            Some(i) => match ck.int(i, "statistics_interval", 0, 65535) {
                Some(0) => None,
                Some(v) => u16::try_from(v).ok(),
                None => continue,
            },
        };
        out.push(Bmp {
            address,
            statistics_interval,
            adj_rib_out: b.adj_rib_out.as_ref().is_some_and(|v| *v.get_ref()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const GLOBAL: &str = "[global]\nasn = 65000\nrouter_id = \"192.0.2.1\"\n";

    #[test]
    fn collectors_are_read_with_their_defaults() {
        let text = format!(
            "{GLOBAL}[[bmp]]\naddress = \"192.0.2.10\"\n\n[[bmp]]\naddress = \"[2001:db8::1]:11019\"\nstatistics_interval = 0\nadj_rib_out = true\n"
        );
        let (c, _) = Config::from_str(&text, "bgpd.toml").unwrap();
        assert_eq!(c.bmp.len(), 2);
        assert_eq!(c.bmp[0].address, "192.0.2.10:1790".parse().unwrap());
        assert_eq!(c.bmp[0].statistics_interval, Some(60));
        assert!(!c.bmp[0].adj_rib_out);
        assert_eq!(c.bmp[1].address, "[2001:db8::1]:11019".parse().unwrap());
        assert_eq!(c.bmp[1].statistics_interval, None);
        assert!(c.bmp[1].adj_rib_out);
    }

    #[test]
    fn bad_collectors_point_at_the_value() {
        let text = format!(
            "{GLOBAL}[[bmp]]\naddress = \"collector.example\"\n\n[[bmp]]\naddress = \"192.0.2.10:1790\"\n[[bmp]]\naddress = \"192.0.2.10\"\nstatistics_interval = -1\n[[bmp]]\naddress = \"192.0.2.11\"\nstatistik = 5\n"
        );
        let errors = Config::from_str(&text, "bgpd.toml").unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(all.contains("5:11"), "{all}");
        assert!(all.contains("must be ADDRESS:PORT"), "{all}");
        assert!(all.contains("already configured at line 8"), "{all}");
        assert!(all.contains("statistik"), "{all}");
    }
}
