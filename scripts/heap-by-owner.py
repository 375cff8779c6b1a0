#!/usr/bin/env python3
"""Heap per idle connection by owner, from heaptrack's peak.

    heaptrack_print -f FILE.zst --print-flamegraph STACKS --flamegraph-cost-type peak
    scripts/heap-by-owner.py STACKS CONNECTIONS

Each allocation live at the peak goes to the first owner below that its stack (read from the
allocation up) names; what none names is "the rest". The owners are those of an idle
signalling connection: `scripts/bench.sh heap` makes the file.
"""
import collections, re, sys

# (owner, a pattern of a frame that marks it), tried from the allocation outwards.
OWNERS = [
    ("tungstenite's write buffer, grown by what it sent", r"^buffer_frame"),
    ("tungstenite's read buffer", r"bytes_mut\.rs|FrameCodec|WebSocketContext"),
    ("tokio's I/O registration", r"registration_set\.rs"),
    ("tokio-tungstenite's waker proxies", r"compat\.rs"),
    ("hyper's upgraded I/O box", r"upgrade\.rs"),
    # 8 KiB for each of the 256 handshakes in flight when the heap peaks (`--connect-concurrency`):
    # the peak is taken while the last connections are opening.
    ("hyper's read buffers of the handshakes in flight at the peak", r"^serve_connection"),
    ("the outbox", r"^start(<>)? \(connection\.rs\)"),
    ("the hub's maps, grown by doubling", r"^reserve_rehash"),
    ("the hub's schedules", r"node\.rs"),
    ("member ids and room names", r"\((hub|protocol)\.rs\)"),
    ("the connection's tokio task", r"\(core\.rs\)"),
]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    connections = int(sys.argv[2])
    owned = collections.Counter()
    for line in open(sys.argv[1]):
        stack, _, cost = line.rstrip().rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")[::-1]
        owner = next(
            (name for frame in frames for name, pattern in OWNERS if re.search(pattern, frame)),
            "the rest",
        )
        owned[owner] += int(cost)
    print("| owner | bytes per connection |")
    print("|---|---|")
    for owner, cost in owned.most_common():
        print(f"| {owner} | {cost / connections:.0f} |")
    print(f"| **in all** | **{sum(owned.values()) / connections:.0f}** |")


if __name__ == "__main__":
    main()
