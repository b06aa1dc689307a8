//! Lab harness: network namespaces, veth links and real BGP daemons. Not built yet.
