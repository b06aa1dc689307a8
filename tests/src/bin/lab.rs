//! `lab`: the seed lab for people (`scripts/demo`) and the raw misbehaving peer for tests.
//!
//! ```text
//! lab demo [--keep] [--nodes N] [--dual-stack]   build the seed lab, show it working, tear it
//!                                 down (or keep it); --dual-stack: IPv6 beside IPv4
//! lab up [--nodes N] [--reflectors 1|2] [--dual-stack]   build it and leave it running
//! lab down                        tear down what `up` / `demo --keep` left running
//! lab raw-peer PEER LOCAL ASN [ibgp]   (tests) a hand-made BGP speaker driven from stdin
//! ```
//!
//! Needs root. The demo lab's namespaces are `lab-demo-*`, its files in `$TMPDIR/lab-demo`.

use std::io;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lab_tests::hybrid::{HybridLab, Options, POD_CIDR_V6, VPC_HOST, VPC_HOST_V6};
use lab_tests::{err, missing, teardown_by_id, wait_until, Lab, Tool};

const DEMO: &str = "demo";

fn usage() -> ExitCode {
    eprintln!(
        "usage: lab demo [--keep] [--nodes N] [--dual-stack]\n       lab up [--nodes N] [--reflectors 1|2] [--dual-stack]\n       lab down\n       lab raw-peer PEER LOCAL ASN [ibgp]"
    );
    ExitCode::from(2)
}

fn flag_value(args: &[String], name: &str) -> Option<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    let res = match cmd.as_str() {
        "raw-peer" => raw_peer(&args[1..]),
        "down" => {
            down();
            Ok(())
        }
        "up" | "demo" => {
            let opts = Options {
                nodes: flag_value(&args, "--nodes").unwrap_or(3),
                reflectors: flag_value(&args, "--reflectors").unwrap_or(1),
                kernel: true,
                dual_stack: args.iter().any(|a| a == "--dual-stack"),
                ..Options::default()
            };
            let keep = cmd == "up" || args.iter().any(|a| a == "--keep");
            demo(opts, keep, cmd == "demo")
        }
        _ => return usage(),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn raw_peer(args: &[String]) -> io::Result<()> {
    let parse = |i: usize| -> io::Result<&String> {
        args.get(i)
            .ok_or_else(|| err("usage: lab raw-peer PEER LOCAL ASN [ibgp]"))
    };
    let peer: IpAddr = parse(0)?.parse().map_err(|_| err("bad PEER"))?;
    let local: IpAddr = parse(1)?.parse().map_err(|_| err("bad LOCAL"))?;
    let asn: u32 = parse(2)?.parse().map_err(|_| err("bad ASN"))?;
    let ibgp = args.get(3).is_some_and(|a| a == "ibgp");
    lab_tests::raw::serve(
        peer,
        local,
        asn,
        ibgp,
        io::stdin().lock(),
        io::stdout().lock(),
    )
}

fn down() {
    let id = format!("lab-{DEMO}");
    teardown_by_id(&id);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&id));
    println!("lab: demo lab torn down");
}

fn banner(s: &str) {
    println!("\n=== {s}");
}

fn demo(opts: Options, keep: bool, show: bool) -> io::Result<()> {
    let mut tools = vec![Tool::Bird16, Tool::Frr];
    if opts.dual_stack {
        tools.push(Tool::Bird16v6);
    }
    if let Some(why) = missing(&tools) {
        return Err(err(format!("cannot build the lab: {why}")));
    }
    let start = Instant::now();
    let lab = Lab::named(DEMO)?;
    banner(&format!(
        "building the seed lab{}: {} Calico node(s) (BIRD 1.6{}), {} bgpd reflector(s), FRR as the VBR",
        if opts.dual_stack { " in dual stack" } else { "" },
        opts.nodes,
        if opts.dual_stack { ": bird and bird6" } else { "" },
        opts.reflectors
    ));
    let mut seed = HybridLab::up(lab, opts)?;
    if keep {
        seed.lab.persist();
    }
    if let Err(e) = seed.wait_converged(Duration::from_secs(60)) {
        eprintln!("{}", seed.lab.logs());
        return Err(e);
    }
    println!("converged in {:.1?}", start.elapsed());

    let rr = seed.rrs[0].bgpd.clone();
    banner("bgpctl show summary   (on the edge)");
    print!("{}", rr.ctl_text(&["show", "summary"])?);
    banner("bgpctl show rib   (on the edge)");
    print!("{}", rr.ctl_text(&["show", "rib"])?);
    if show {
        banner("vtysh -c 'show bgp ipv4 unicast'   (on the VBR: only the pod aggregate from us)");
        print!("{}", seed.vbr.vtysh("show bgp ipv4 unicast")?);
        let n1 = &seed.nodes[0];
        banner(&format!(
            "birdc show route   (on Calico node {} — VPC via the edge, blocks via their nodes)",
            n1.addr
        ));
        print!("{}", n1.bird.birdc(&["show", "route"])?);
        if let Some(n1v6) = &n1.v6 {
            banner(&format!(
                "vtysh -c 'show bgp ipv6 unicast'   (on the VBR: only the IPv6 pod aggregate {POD_CIDR_V6} from us)"
            ));
            print!("{}", seed.vbr.vtysh("show bgp ipv6 unicast")?);
            banner(&format!(
                "birdc6 show route   (bird6 on Calico node {} — VPC via the edge, /122 blocks via their nodes)",
                n1v6.addr
            ));
            print!("{}", n1v6.bird.birdc(&["show", "route"])?);
            banner("ip -6 route show proto bgp   (the edge's IPv6 FIB, installed by bgpd)");
            let o = seed.lab.run(
                &seed.lab.ns("edge"),
                "ip",
                &["-6", "route", "show", "proto", "bgp"],
            )?;
            print!("{}", o.stdout);
        }
    }

    banner(&format!(
        "data plane: ping from pod {} to VPC host {VPC_HOST}",
        seed.nodes[0].pod
    ));
    data_plane(&seed)?;

    if keep {
        let edge = seed.lab.ns("edge");
        let dir = seed.lab.dir.display().to_string();
        banner("the lab keeps running; poke at it with:");
        println!(
            "  {} --socket {}/edge.sock show summary",
            lab_tests::our_bin("bgpctl")?.display(),
            dir
        );
        println!(
            "  {}/birdc -s {dir}/n1.ctl show route all",
            lab_tests::BIRD16_DIR
        );
        println!("  vtysh --vty_socket {dir}/vbr.vty -c 'show bgp ipv4 unicast'");
        println!("  ip netns exec {edge} ip route          # the edge's FIB");
        println!("  ip netns exec {} ping {VPC_HOST}", seed.lab.ns("n1"));
        if let Some(n1v6) = &seed.nodes[0].v6 {
            println!(
                "  {}/birdc6 -s {dir}/n1-v6.ctl show route all",
                lab_tests::BIRD16_DIR
            );
            println!("  vtysh --vty_socket {dir}/vbr.vty -c 'show bgp ipv6 unicast'");
            println!("  ip netns exec {edge} ip -6 route       # the edge's IPv6 FIB");
            println!(
                "  ip netns exec {} ping -6 -I {} {VPC_HOST_V6}",
                seed.lab.ns("n1"),
                n1v6.pod
            );
        }
        println!("  logs and configuration: {dir}");
        println!("and tear it down with: scripts/demo --down");
    } else {
        banner("tearing down");
    }
    Ok(())
}

/// Pings a VPC host from a pod address when the edge has the routes in its kernel;
/// otherwise says that the data plane is not there yet.
fn data_plane(seed: &HybridLab) -> io::Result<()> {
    let lab = &seed.lab;
    let edge = lab.ns("edge");
    // The cloud side's FIB is not under test: FRR runs without zebra, so give the VBR its
    // route back to the pods by hand (both families with dual stack).
    seed.add_vbr_routes_back()?;
    let installed = wait_until(
        Duration::from_secs(10),
        "VPC route in the edge's FIB",
        || {
            let o = lab.run(&edge, "ip", &["route", "show", "198.19.24.0/24"])?;
            Ok(o.stdout.contains("via 203.0.113.2"))
        },
    );
    if installed.is_err() {
        println!(
            "the data plane is not there yet: bgpd does not install routes into the kernel \
             ([kernel] FIB programming is being built), so the edge cannot forward pod <-> VPC."
        );
        return Ok(());
    }
    if missing(&[Tool::Ping]).is_some() {
        println!("ping is not installed (iputils-ping); skipping the reachability check");
        return Ok(());
    }
    let n1 = &seed.nodes[0];
    let o = lab.run(
        &n1.ns,
        "ping",
        &["-c", "3", "-i", "0.2", "-W", "2", "-I", &n1.pod, VPC_HOST],
    )?;
    print!("{}", o.stdout);
    if !o.ok() {
        return Err(err(format!("ping failed: {}", o.stderr.trim())));
    }
    println!("pod -> VPC reachable through the edge");
    let Some(n1v6) = &n1.v6 else {
        return Ok(());
    };
    banner(&format!(
        "data plane, IPv6: ping6 from pod {} to VPC host {VPC_HOST_V6}",
        n1v6.pod
    ));
    wait_until(
        Duration::from_secs(10),
        "IPv6 VPC route in the edge's FIB",
        || {
            let o = lab.run(&edge, "ip", &["-6", "route", "show", "2001:db8:19:24::/64"])?;
            Ok(o.stdout.contains("dev up0"))
        },
    )?;
    let o = lab.run(
        &n1.ns,
        "ping",
        &[
            "-6",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "-I",
            &n1v6.pod,
            VPC_HOST_V6,
        ],
    )?;
    print!("{}", o.stdout);
    if o.ok() {
        println!("pod -> VPC reachable through the edge over IPv6");
        Ok(())
    } else {
        Err(err(format!("ping6 failed: {}", o.stderr.trim())))
    }
}
