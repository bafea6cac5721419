"""Writes seed frames for the decode_request fuzz target that sit at the
broker's limits: a partition listed 20 times in a Fetch, a topic named 50
times in Metadata, a group 50 times in DescribeGroups, a JoinGroup with 100
protocols (over the cap of 64), CreateTopics with 2^31-1 partitions, an
OffsetCommit with 5,000 bytes of metadata (over 4096), ApiVersions v3.

Usage: python broker/fuzz/seeds.py DIR, then (in broker/)
cargo +nightly fuzz run decode_request DIR -- -max_total_time=600 -max_len=4096 -rss_limit_mb=512"""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "clients"))

from helpers import kstr  # noqa: E402

INT32_MAX = 2**31 - 1


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    os.makedirs(out, exist_ok=True)
    part = struct.pack(">iqi", 0, 0, INT32_MAX)
    protocols = b"".join(kstr(f"p{i}") + struct.pack(">i", 0) for i in range(100))
    seeds = [
        (1, 4, struct.pack(">iiiib", -1, 0, 0, INT32_MAX, 0) + struct.pack(">i", 1) + kstr("t")
         + struct.pack(">i", 20) + part * 20),
        (3, 1, struct.pack(">i", 50) + kstr("t") * 50),
        (15, 0, struct.pack(">i", 50) + kstr("g") * 50),
        (11, 1, kstr("g") + struct.pack(">ii", 10000, 10000) + kstr("") + kstr("consumer")
         + struct.pack(">i", 100) + protocols),
        (19, 2, struct.pack(">i", 1) + kstr("x") + struct.pack(">ihii", INT32_MAX, -1, 0, 0)
         + struct.pack(">ib", 30000, 0)),
        (8, 2, kstr("g") + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1) + struct.pack(">i", 1)
         + kstr("t") + struct.pack(">i", 1) + struct.pack(">iq", 0, 0) + kstr("m" * 5000)),
        (18, 3, b""),
    ]
    for i, (api, version, body) in enumerate(seeds):
        header = struct.pack(">hhi", api, version, 1) + kstr("fuzz")
        with open(os.path.join(out, f"seed-{i}"), "wb") as f:
            f.write(header + body)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main()
