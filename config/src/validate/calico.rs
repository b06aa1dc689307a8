//! `calico` on the nodes' range: Calico's IP pools, which decide what a node may announce.

use super::helpers::Checker;
use crate::model::{Calico, Peer};
use crate::schema::CalicoSchema;

/// `calico = { pools = [...], block_size = 26, block_size_v6 = 122 }`; `Some(None)` when
/// absent.
pub(super) fn calico(
    ck: &mut Checker<'_, '_>,
    c: &toml::Spanned<CalicoSchema>,
    peer: Option<Peer>,
) -> Option<Option<Calico>> {
    if let Some(Peer::Address(_)) = peer {
        ck.error(
            c.span(),
            "`calico` belongs on the nodes' `range` neighbor: it checks every node of the range",
        );
        return None;
    }
    let t = c.get_ref();
    if t.pools.get_ref().is_empty() {
        ck.error(t.pools.span(), "`pools` must name at least one IP pool");
        return None;
    }
    let pools: Vec<_> = t
        .pools
        .get_ref()
        .iter()
        .map(|p| ck.prefix(p, "pools"))
        .collect();
    let pools: Vec<_> = pools.into_iter().collect::<Option<_>>()?;
    let block_size = t
        .block_size
        .as_ref()
        .map_or(Some(26), |b| ck.int_as::<u8>(b, "block_size", 1, 32))?;
    let block_size_v6 = t
        .block_size_v6
        .as_ref()
        .map_or(Some(122), |b| ck.int_as::<u8>(b, "block_size_v6", 1, 128))?;
    let calico = Calico {
        pools,
        block_size,
        block_size_v6,
    };
    for (p, text) in calico.pools.iter().zip(t.pools.get_ref()) {
        let block = calico.block_size_of(p);
        if block < p.prefix_len() {
            ck.error(
                text.span(),
                format!("pool `{p}` is smaller than one block (/{block}): make the pool larger or the block smaller"),
            );
            return None;
        }
    }
    Some(Some(calico))
}

#[cfg(test)]
mod tests {
    use crate::{Config, PoolRoute};

    const HEAD: &str = "[global]\nasn = 64512\nrouter_id = \"192.0.2.1\"\n[[neighbor]]\nname = \"nodes\"\nrange = \"192.0.2.0/24\"\nremote_as = 64512\n";

    #[test]
    fn pools_classify_blocks_borrowed_and_the_rest() {
        let text =
            format!("{HEAD}calico = {{ pools = [\"10.100.0.0/16\", \"2001:db8:100::/56\"] }}\n");
        let (c, _) = Config::from_str(&text, "bgpd.toml").unwrap();
        let calico = c.neighbors[0].calico.as_ref().unwrap();
        assert_eq!((calico.block_size, calico.block_size_v6), (26, 122));
        let class = |p: &str| calico.classify(&p.parse().unwrap());
        assert_eq!(class("10.100.3.64/26"), PoolRoute::Block);
        assert_eq!(class("10.100.3.70/32"), PoolRoute::Borrowed);
        assert_eq!(class("10.100.0.0/16"), PoolRoute::TooShort);
        assert_eq!(class("10.100.3.64/28"), PoolRoute::Partial);
        assert_eq!(class("0.0.0.0/0"), PoolRoute::Outside);
        assert_eq!(class("172.16.0.0/26"), PoolRoute::Outside);
        assert_eq!(class("2001:db8:100::40/122"), PoolRoute::Block);
        assert_eq!(class("2001:db8:100::41/128"), PoolRoute::Borrowed);
    }

    #[test]
    fn mistakes_point_at_the_value() {
        let bad = [
            ("calico = { pools = [] }", "at least one IP pool"),
            (
                "calico = { pools = [\"10.100.0.0/16\"], block_size = 33 }",
                "block_size",
            ),
            (
                "calico = { pools = [\"10.100.0.0/27\"] }",
                "smaller than one block",
            ),
            ("calico = { pools = [\"10.100.0.1/16\"] }", "host bits"),
            ("calico = { pool = [\"10.100.0.0/16\"] }", "pool"),
        ];
        for (line, want) in bad {
            let errors = Config::from_str(&format!("{HEAD}{line}\n"), "bgpd.toml").unwrap_err();
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            assert!(
                all.iter()
                    .any(|e| e.starts_with("bgpd.toml:8:") && e.contains(want)),
                "{line}: {all:?}"
            );
        }
        let fixed = HEAD.replace("range = \"192.0.2.0/24\"", "address = \"192.0.2.9\"");
        let errors = Config::from_str(
            &format!("{fixed}calico = {{ pools = [\"10.100.0.0/16\"] }}\n"),
            "bgpd.toml",
        )
        .unwrap_err();
        assert!(
            errors.iter().any(|e| e.to_string().contains("range")),
            "{errors:?}"
        );
    }
}
