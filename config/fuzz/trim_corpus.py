#!/usr/bin/env python3
"""Cuts a fuzz corpus down to the N inputs that cover the most coverage edges (greedy set
cover), for the config and control targets (config/fuzz, bgpd/fuzz).

`cargo fuzz cmin` keeps every input that adds a feature (edge counters included): well over a
thousand files for these targets. This keeps at most N (default 200) inputs, chosen greedily
by how many coverage features they add (edges, without hit counts) (the smaller input on ties), plus every `crash-*` file (inputs that
once crashed the target, kept whatever they cover). The others are renamed to their SHA-1, as
libFuzzer names them.

    cargo fuzz build config
    python3 fuzz/trim_corpus.py fuzz/target/x86_64-unknown-linux-gnu/release/config fuzz/corpus/config
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    binary, corpus = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) == 4 else 200
    with tempfile.TemporaryDirectory() as tmp:
        control = os.path.join(tmp, "merge.control")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        # With -set_cover_merge the control file lists every feature of every input (a plain
        # merge lists only the new ones); -use_counters=0 makes the features plain edges.
        subprocess.run(
            [binary, "-merge=1", "-set_cover_merge=1", "-use_counters=0", "-timeout=10",
             f"-merge_control_file={control}", out, corpus],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = open(control).read().split("\n")
        count = int(lines[0])
        files = lines[2:2 + count]
        features = {}
        for line in lines[2 + count:]:
            parts = line.split()
            if parts and parts[0] == "FT":
                features[int(parts[1])] = set(map(int, parts[2:]))
    everything = set().union(*features.values()) if features else set()
    size = {i: os.path.getsize(files[i]) for i in features}
    covered, chosen = set(), []
    while len(chosen) < limit and covered != everything:
        best = max(features, key=lambda i: (len(features[i] - covered), -size[i]))
        if not features[best] - covered:
            break
        covered |= features[best]
        chosen.append(files[best])
    crashes = [os.path.join(corpus, f) for f in os.listdir(corpus) if f.startswith("crash-")]
    crash_data = {os.path.basename(p): open(p, "rb").read() for p in crashes}
    keep = {}
    for path in chosen:
        data = open(path, "rb").read()
        if data not in crash_data.values():
            keep[hashlib.sha1(data).hexdigest()] = data
    shutil.rmtree(corpus)
    os.mkdir(corpus)
    for name, data in list(keep.items()) + list(crash_data.items()):
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)
    share = 100 * len(covered) / len(everything) if everything else 100
    print(f"{len(keep)} inputs covering {len(covered)} of {len(everything)} features "
          f"({share:.1f}%), plus {len(crash_data)} crash inputs")


if __name__ == "__main__":
    main()
