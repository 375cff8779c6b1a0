#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md, one command per figure, against a release build.
#
#   scripts/bench.sh relay    relay throughput at saturation; latency at 1k, 10k and 50k msg/s
#   scripts/bench.sh memory   server RSS holding 1k and 10k idle connections
#   scripts/bench.sh heap     the heap of 10k idle connections, per connection by owner (heaptrack)
#   scripts/bench.sh join     server time of a join and a leave in rooms of 2, 6 and 12
#   scripts/bench.sh page     server time for /?room=home while the relay runs 10k msg/s
#   scripts/bench.sh bundle   the release wasm and JS bundle, gzip, its code by crate, and a bare
#                             Leptos app's for scale (bench/bare-leptos)
#   scripts/bench.sh wall     browsers: 4, 6, 8 `both` tabs, and one wall with 4, 8, 16 cameras
#   scripts/bench.sh first-frame
#                             browsers: a second tab opened → its first decoded remote frame, with
#                             the steps in between (FIRST_FRAME_DEBUG=1: the debug build), in
#                             a fresh browser and in a returning one
#   scripts/bench.sh first-frame-trace
#                             the same second tab traced: its main thread's time by kind (the
#                             wasm's lazy compilation, style and layout, ...)
#   scripts/bench.sh cluster  relay across two processes sharing a Redis (--redis-url), every
#                             room spanning both, beside one process: saturation and 10k msg/s
#   scripts/bench.sh all      everything above
#   scripts/bench.sh versus URL
#                             relay and idle memory of another base-format server at URL (say
#                             ws://127.0.0.1:8080/portal) and of portals, alternating; the ratios
#
# RUNS=n repeats each measurement (default 3) and reports the median. Raw output is kept under
# bench/results/<date>/. For the figures of an earlier commit, build it elsewhere and point
# PORTALS_BENCH_BIN at its binary (and, for `wall`, LEPTOS_SITE_ROOT at its site, with
# WALL_NO_BUILD=1). The server and the load generator share this machine and talk over
# loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
runs=${RUNS:-3}
port=${PORTALS_BENCH_PORT:-3100}
results="bench/results/$(date +%Y%m%d-%H%M%S)-$what"
server_pid=""

scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"
mkdir -p "$results"
# 10 000 connections need 20 000 file descriptors on this side of loopback alone.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

say() { printf '\033[1;34m==> %s\033[0m\n' "$*"; }

build() {
  say "release build of the server and the load generator"
  # The output name and the flags cargo-leptos would set (Cargo.toml's always-erase-components):
  # the server then finds its Leptos configuration, and neither build undoes the other's.
  RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=portals \
    cargo build --release --features ssr --bin portals --bin portals-load 2>&1 | tail -1
}

start_server() {
  # Rate limits off: the benchmark is the sender here, not an abuser.
  "${PORTALS_BENCH_BIN:-target/release/portals}" --addr "127.0.0.1:$port" --log warn \
    --messages-per-second 10000000 --message-burst 10000000 "$@" &
  server_pid=$!
  until_healthy 100
}

# until_healthy TRIES: waits until the server on $port answers /healthz, a tenth of a second
# per try; the run ends if it never does.
until_healthy() {
  for _ in $(seq "$1"); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return
    sleep 0.1
  done
  echo "the server did not start" >&2
  exit 1
}

# stop VAR: ends the process whose pid VAR holds, if it holds one, and forgets it.
stop() {
  if [ -n "${!1}" ]; then
    kill "${!1}" 2>/dev/null || true
    wait "${!1}" 2>/dev/null || true
    printf -v "$1" '%s' ""
  fi
}

stop_server() { stop server_pid; }
trap stop_server EXIT

# Not a function around the binary: a backgrounded function is a subshell, and killing that
# would leave the generator running.
load_command=(target/release/portals-load --url "ws://127.0.0.1:$port/portal" --json)

# median FILE EXPRESSION: the median over the JSON lines of FILE of a Python expression of `r`.
median() {
  python3 - "$1" "$2" <<'EOF'
import json, statistics, sys
values = [eval(sys.argv[2], {}, {"r": json.loads(line)}) for line in open(sys.argv[1]) if line.strip()]
print(f"{statistics.median(values):.1f}")
EOF
}

# relay_row FILE LABEL...: a table row of the labels, then the medians of FILE's relay runs.
relay_row() {
  local out=$1
  shift
  printf '| %s ' "$@"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' \
    "$(median "$out" 'r["relayed_per_second"]')" \
    "$(median "$out" 'r["latency_us"]["p50"]')" \
    "$(median "$out" 'r["latency_us"]["p90"]')" \
    "$(median "$out" 'r["latency_us"]["p99"]')" \
    "$(median "$out" 'r["latency_us"]["max"]')" \
    "$(median "$out" 'sum(r["errors"].values())')" \
    "$(median "$out" 'r["dropped"]')"
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }

bench_relay() {
  build
  say "relay: 1000 connections in 100 rooms of 10, ${runs} runs each"
  {
    printf '| load | relayed msg/s | p50 µs | p90 µs | p99 µs | max µs | errors | dropped |\n'
    printf '|---|---|---|---|---|---|---|---|\n'
  } >"$results/relay.md"
  for rate in 0 1000 10000 50000; do
    out="$results/relay-$rate.jsonl"
    for run in $(seq "$runs"); do
      start_server
      "${load_command[@]}" --connections 1000 --rooms 100 --rate "$rate" --duration 10s >>"$out"
      stop_server
    done
    label=$([ "$rate" = 0 ] && echo "saturation" || echo "$rate msg/s")
    relay_row "$out" "$label" >>"$results/relay.md"
  done
  cat "$results/relay.md"
}

bench_memory() {
  build
  say "memory: server RSS with idle connections, ${runs} runs each"
  {
    printf '| idle connections | RSS before | RSS holding | per connection |\n'
    printf '|---|---|---|---|\n'
  } >"$results/memory.md"
  for connections in 1000 10000; do
    out="$results/memory-$connections.txt"
    : >"$out"
    for run in $(seq "$runs"); do
      start_server
      before=$(rss_kib)
      "${load_command[@]}" --idle --connections "$connections" --rooms $((connections / 10)) --duration 60s \
        --connect-concurrency 256 >"$results/memory-$connections-load-$run.json" &
      generator=$!
      # Wait until the server holds them all, then let it settle.
      for _ in $(seq 600); do
        held=$(curl -s "http://127.0.0.1:$port/metrics" | awk '$1 == "portals_connections" { print $2 }')
        [ "${held:-0}" -ge "$connections" ] && break
        sleep 0.1
      done
      sleep 2
      holding=$(rss_kib)
      echo "$before $holding $held" >>"$out"
      kill "$generator" 2>/dev/null || true
      wait "$generator" 2>/dev/null || true
      stop_server
    done
    python3 - "$out" "$connections" >>"$results/memory.md" <<'EOF'
import statistics, sys
rows = [list(map(int, line.split())) for line in open(sys.argv[1]) if line.strip()]
n = int(sys.argv[2])
before = statistics.median(r[0] for r in rows)
holding = statistics.median(r[1] for r in rows)
per = statistics.median((r[1] - r[0]) * 1024 / r[2] for r in rows if r[2])
print(f"| {n} | {before/1024:.1f} MiB | {holding/1024:.1f} MiB | {per/1024:.2f} KiB |")
EOF
  done
  cat "$results/memory.md"
}

bench_heap() {
  say "heap: heaptrack of a release build with line tables, holding 10 000 idle connections"
  command -v heaptrack >/dev/null || {
    echo "heaptrack is not installed (apt-get install heaptrack)" >&2
    exit 1
  }
  build
  # Its own target directory: line tables change every crate's build. The system's malloc,
  # which heaptrack sees, rather than jemalloc (the heap by owner is the same; the RSS is not).
  CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=target/heap LEPTOS_OUTPUT_NAME=portals \
    RUSTFLAGS="--cfg portals_system_allocator" \
    cargo build --release --features ssr --bin portals 2>&1 | tail -1
  heaptrack -o "$results/heap" target/heap/release/portals --addr "127.0.0.1:$port" --log warn \
    --messages-per-second 10000000 --message-burst 10000000 >"$results/heaptrack.log" 2>&1 &
  local tracked=$!
  # Slower to start under heaptrack.
  until_healthy 300
  "${load_command[@]}" --idle --connections 10000 --rooms 1000 --duration 15s \
    --connect-concurrency 256 >/dev/null
  # heaptrack writes its file when the server exits on its own (SIGINT: a graceful shutdown).
  pkill -INT -f "target/heap/release/portals --addr 127.0.0.1:$port" || true
  wait "$tracked" || true
  heaptrack_print -f "$results/heap.zst" --print-flamegraph "$results/heap-stacks.txt" \
    --flamegraph-cost-type peak >/dev/null
  python3 scripts/heap-by-owner.py "$results/heap-stacks.txt" 10000 | tee "$results/heap.md"
}

bench_join() {
  say "join and leave (cargo bench)"
  cargo bench --features ssr --bench join_leave 2>/dev/null | tee "$results/join.txt"
}

bench_page() {
  build
  say "page: GET /?room=home while 1000 connections relay 10 000 msg/s, ${runs} runs"
  out="$results/page.jsonl"
  for run in $(seq "$runs"); do
    start_server
    "${load_command[@]}" --connections 1000 --rooms 100 --rate 10000 --duration 20s \
      --page "http://127.0.0.1:$port/?room=home" --page-requests 400 >>"$out"
    stop_server
  done
  printf '| page under 10k msg/s | p50 %s ms | p99 %s ms |\n' \
    "$(median "$out" 'r["page_ms"]["p50"]')" "$(median "$out" 'r["page_ms"]["p99"]')" |
    tee "$results/page.md"
}

bench_bundle() {
  say "bundle: cargo leptos build --release --precompress"
  cargo leptos build --release --precompress 2>&1 | tail -1
  # gzip -9 for comparison with earlier figures; the .br file is what goes to a browser over
  # https, the .gz one over http.
  for file in target/site/pkg/portals.wasm target/site/pkg/portals.js; do
    printf '| %s | %d bytes | %d bytes gzip -9 | %d bytes as served over https (brotli) | %d bytes as served over http (gzip) |\n' \
      "$(basename "$file")" "$(stat -c %s "$file")" "$(gzip -9 -c "$file" | wc -c)" \
      "$(stat -c %s "$file.br")" "$(stat -c %s "$file.gz")"
  done | tee "$results/bundle.md"
  # Where the bytes go, by crate, from the module as cargo left it (it still has its names).
  python3 scripts/wasm-sizes.py target/front/wasm32-unknown-unknown/wasm-release/portals.wasm 30 |
    tee "$results/bundle-by-crate.md"
  say "bundle: a bare Leptos app with a router, same profile and tools, for scale"
  local bare=target/bare-leptos
  (cd bench/bare-leptos && CARGO_TARGET_DIR=../../$bare RUSTFLAGS="--cfg erase_components" \
    cargo build --locked --lib --profile wasm-release --target wasm32-unknown-unknown 2>&1 | tail -1)
  wasm-bindgen --target web --out-dir "$bare/pkg" --out-name bare \
    "$bare/wasm32-unknown-unknown/wasm-release/bare_leptos.wasm"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int "$bare/pkg/bare_bg.wasm" -o "$bare/pkg/bare.wasm"
  for file in "$bare/pkg/bare.wasm" "$bare/pkg/bare.js"; do
    printf '| bare Leptos app: %s | %d bytes | %d bytes gzip |\n' "$(basename "$file")" \
      "$(stat -c %s "$file")" "$(gzip -9 -c "$file" | wc -c)"
  done | tee -a "$results/bundle.md"
  python3 scripts/wasm-sizes.py "$bare/wasm32-unknown-unknown/wasm-release/bare_leptos.wasm" 30 >"$results/bare-by-crate.md"
}

bench_wall() {
  say "wall: cargo leptos build --release, then Chromium tabs with fake cameras, ${runs} runs"
  [ -n "${WALL_NO_BUILD:-}" ] || cargo leptos build --release --precompress 2>&1 | tail -1
  # The site cargo-leptos just built, served by the binary it built with it.
  export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site} LEPTOS_SITE_PKG_DIR=pkg LEPTOS_OUTPUT_NAME=portals
  for run in $(seq "$runs"); do
    start_server
    (cd end2end && node bench/wall.mjs "http://127.0.0.1:$port" mesh 4 6 8) >>"$results/wall.jsonl"
    (cd end2end && node bench/wall.mjs "http://127.0.0.1:$port" wall 4 8 16) >>"$results/wall.jsonl"
    stop_server
  done
  python3 - "$results/wall.jsonl" >"$results/wall.md" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("| room | tabs | ready, median ms | last tab joined, median ms | watched tab decodes | fps median | fps min | decoder fps median |")
print("|---|---|---|---|---|---|---|---|")
for shape, size in dict.fromkeys((r["shape"], r["size"]) for r in rows):
    runs = [r for r in rows if (r["shape"], r["size"]) == (shape, size)]
    label = f"{size} both" if shape == "mesh" else f"1 wall + {size} cameras"
    ready = [r["ready_ms"] for r in runs if r["ready_ms"] is not None]
    fps = [r["fps_median"] for r in runs if r["fps_median"] is not None]
    low = [r["fps_min"] for r in runs if r["fps_min"] is not None]
    dec = [r["decoded_fps_median"] for r in runs if r.get("decoded_fps_median") is not None]
    seen = "/".join(str(r["decoding"]) for r in runs) + f" of {runs[0]['expected']}"
    when = f"{statistics.median(ready):.0f} ({len(ready)}/{len(runs)} runs)" if ready else f"never (0/{len(runs)} runs)"
    joined = [r["last_joined_ms"] for r in runs if r.get("last_joined_ms") is not None]
    joined = f"{statistics.median(joined):.0f}" if joined else "-"
    print(f"| {label} | {runs[0]['tabs']} | {when} | {joined} | {seen} | "
          f"{statistics.median(fps) if fps else '-'} | {min(low) if low else '-'} | "
          f"{statistics.median(dec) if dec else '-'} |")
EOF
  cat "$results/wall.md"
}

# versus URL: the same four measurements against a server someone else started (anything
# speaking the base @openlab/portals format, e.g. the original built from its source) and
# against portals, in rounds that alternate between the two, so that both meet the same machine
# at the same moment. With VERSUS_COMMAND (a shell command that starts that server at URL, and
# is that server's process: `exec` it, or the memory read is the wrapper's) the script starts a
# fresh one for every measurement, as it does portals; without, it measures the
# running one, whose process it finds by its listening port (memory is then measured first in
# each round, on a server that has already held the rounds before).
versus_url=""
other_pid=""
generator=""
target_pid=""
target_url=""

stop_other() { stop other_pid; }

# start_target portals|other: a fresh server where the script may start one; sets target_pid
# and target_url.
start_target() {
  if [ "$1" = portals ]; then
    start_server
    target_pid=$server_pid
    target_url="ws://127.0.0.1:$port/portal"
    return
  fi
  target_url=$versus_url
  local authority=${versus_url#*://}
  authority=${authority%%/*}
  local other_port=${authority##*:}
  if [ -n "${VERSUS_COMMAND:-}" ]; then
    bash -c "exec $VERSUS_COMMAND" >>"$results/other-server.log" 2>&1 &
    other_pid=$!
    target_pid=$other_pid
    for _ in $(seq 100); do
      kill -0 "$other_pid" 2>/dev/null || {
        echo "VERSUS_COMMAND ended: see $results/other-server.log" >&2
        exit 1
      }
      # Any HTTP answer, even a 404, means it listens.
      curl -s -o /dev/null "http://$authority/" && return
      sleep 0.1
    done
    echo "VERSUS_COMMAND did not start a server at $authority" >&2
    exit 1
  fi
  target_pid=$(ss -Hltnp "sport = :$other_port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
  if [ -z "$target_pid" ]; then
    echo "nothing listens on port $other_port (start the server, or set VERSUS_COMMAND)" >&2
    exit 1
  fi
}

stop_generator() { stop generator; }

stop_target() {
  if [ "$1" = portals ]; then stop_server; else stop_other; fi
}

# versus_measure portals|other: one round of the four measurements, as JSON lines.
versus_measure() {
  local target=$1 load=(target/release/portals-load --json)
  local restart=yes
  [ "$target" = other ] && [ -z "${VERSUS_COMMAND:-}" ] && restart=""
  start_target "$target"
  local before held
  before=$(awk '/^VmRSS/ { print $2 }' "/proc/$target_pid/status")
  "${load[@]}" --url "$target_url" --idle --connections 10000 --rooms 1000 \
    --connect-concurrency 256 --duration "$((60 + ${VERSUS_SETTLE:-45}))s" >/dev/null 2>"$results/joined.txt" &
  generator=$!
  for _ in $(seq 1200); do
    grep -q 'connections joined' "$results/joined.txt" && break
    kill -0 "$generator" 2>/dev/null || { cat "$results/joined.txt" >&2; exit 1; }
    sleep 0.1
  done
  held=$(grep -o '[0-9]* connections joined' "$results/joined.txt" | cut -d' ' -f1 || true)
  # The lowest RSS over the settling time: a garbage-collected server (node's V8) frees the
  # garbage of 10 000 handshakes only when it has been idle for a while, about 30 s here.
  local holding rss
  holding=$(awk '/^VmRSS/ { print $2 }' "/proc/$target_pid/status")
  for _ in $(seq "${VERSUS_SETTLE:-45}"); do
    sleep 1
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$target_pid/status")
    [ "$rss" -lt "$holding" ] && holding=$rss
  done
  printf '{"target":"%s","figure":"memory","before_kib":%s,"holding_kib":%s,"held":%s}\n' "$target" \
    "$before" "$holding" "${held:-0}" >>"$results/versus.jsonl"
  stop_generator
  local figure args
  for figure in sdp candidates latency; do
    if [ -n "$restart" ]; then
      stop_target "$target"
      start_target "$target"
    fi
    case $figure in
    sdp) args=(--connections 200 --rooms 50 --rate 0 --descriptions-percent 100) ;;
    candidates) args=(--connections 200 --rooms 50 --rate 0 --descriptions-percent 0) ;;
    latency) args=(--connections 200 --rooms 50 --rate 10000 --descriptions-percent 100) ;;
    esac
    "${load[@]}" --url "$target_url" "${args[@]}" --duration 10s |
      python3 -c 'import json, sys; r = json.loads(sys.stdin.read()); r["target"], r["figure"] = sys.argv[1], sys.argv[2]; print(json.dumps(r))' \
        "$target" "$figure" >>"$results/versus.jsonl"
  done
  stop_target "$target"
}

bench_versus() {
  versus_url=${1:-}
  case "$versus_url" in
  ws://127.0.0.1:*/* | ws://localhost:*/*) ;;
  *)
    echo "usage: scripts/bench.sh versus ws://127.0.0.1:PORT/PATH (a loopback server of the base format)" >&2
    exit 2
    ;;
  esac
  build
  trap 'stop_generator; stop_server; stop_other' EXIT
  say "versus $versus_url: ${runs} rounds, each measuring it and then portals"
  for round in $(seq "$runs"); do
    say "round $round of $runs"
    versus_measure other
    versus_measure portals
  done
  python3 - "$results/versus.jsonl" "$versus_url" >"$results/versus.md" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
def values(target, figure, value):
    return [value(r) for r in rows if r["target"] == target and r["figure"] == figure]
figures = [
    ("relay at saturation, 4 KiB SDPs, 200 connections in 50 rooms (msg/s)", "sdp",
     lambda r: r["relayed_per_second"], True),
    ("relay at saturation, 200 B candidates, 200 connections in 50 rooms (msg/s)", "candidates",
     lambda r: r["relayed_per_second"], True),
    ("p99 relay latency at 10 000 msg/s, 4 KiB SDPs (µs)", "latency",
     lambda r: r["latency_us"]["p99"], False),
    ("memory per idle connection, 10 000 connections in 1 000 rooms (KiB)", "memory",
     lambda r: (r["holding_kib"] - r["before_kib"]) / r["held"] if r["held"] else float("nan"), False),
]
spread = lambda v: f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"
print(f"| figure, median (lowest–highest) | {sys.argv[2]} | portals | portals ahead by |")
print("|---|---|---|---|")
for label, figure, value, more_is_better in figures:
    other, ours = values("other", figure, value), values("portals", figure, value)
    if not other or not ours:
        continue
    o, p = statistics.median(other), statistics.median(ours)
    ahead = (p / o if more_is_better else o / p) if o and p else float("nan")
    print(f"| {label} | {spread(other)} | {spread(ours)} | {ahead:.2f}× |")
troubled = [r for r in rows if r["figure"] != "memory" and (sum(r["errors"].values()) or r["dropped"])]
short = [r for r in rows if r["figure"] == "memory" and r["held"] < 10000]
print()
print(f"{len(values('portals', 'memory', lambda r: 0))} rounds; runs with errors or drops: {len(troubled)}; "
      f"memory runs holding fewer than 10 000 connections: {len(short)}")
EOF
  rm -f "$results/joined.txt"
  cat "$results/versus.md"
}

# Two processes of a cluster on $port and $port+1, with a redis-server of their own on
# $port+2; every room's members alternate between the two, so that half of them are forwarded
# to the process that runs their room and every relay between them crosses Redis.
bench_cluster() {
  build
  local redis_port=$((port + 2)) second_port=$((port + 1))
  second_pid="" redis_pid=""
  trap 'stop_server; stop second_pid; stop redis_pid' EXIT
  say "cluster: 1000 connections in 100 rooms of 10, each room on both processes, ${runs} runs each"
  {
    printf '| servers | load | relayed msg/s | p50 µs | p90 µs | p99 µs | max µs | errors | dropped |\n'
    printf '|---|---|---|---|---|---|---|---|---|\n'
  } >"$results/cluster.md"
  for layout in one two; do
    for rate in 0 10000; do
      out="$results/cluster-$layout-$rate.jsonl"
      for run in $(seq "$runs"); do
        if [ "$layout" = one ]; then
          start_server
          urls="ws://127.0.0.1:$port/portal"
        else
          redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
          redis_pid=$!
          until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
          local cluster=(--redis-url "redis://127.0.0.1:$redis_port/" --secret bench)
          start_server "${cluster[@]}"
          "${PORTALS_BENCH_BIN:-target/release/portals}" --addr "127.0.0.1:$second_port" --log warn \
            --messages-per-second 10000000 --message-burst 10000000 "${cluster[@]}" &
          second_pid=$!
          until curl -sf "http://127.0.0.1:$second_port/healthz" >/dev/null; do sleep 0.1; done
          urls="ws://127.0.0.1:$port/portal,ws://127.0.0.1:$second_port/portal"
        fi
        target/release/portals-load --url "$urls" --json --connections 1000 --rooms 100 \
          --rate "$rate" --duration 10s >>"$out"
        stop_server
        stop second_pid
        stop redis_pid
      done
      label=$([ "$rate" = 0 ] && echo "saturation" || echo "$rate msg/s")
      relay_row "$out" "$([ "$layout" = one ] && echo "one process" || echo "two + Redis")" \
        "$label" >>"$results/cluster.md"
    done
  done
  cat "$results/cluster.md"
}

bench_first_frame() {
  local profile=(--release --precompress) label=release
  [ -n "${FIRST_FRAME_DEBUG:-}" ] && profile=() label=debug
  say "first frame: cargo leptos build ${profile[*]}, then a second Chromium tab, ${FIRST_FRAME_RUNS:-15} runs"
  cargo leptos build "${profile[@]}" 2>&1 | tail -1
  # The site cargo-leptos just built, served by the binary it built with it.
  export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site} LEPTOS_SITE_PKG_DIR=pkg LEPTOS_OUTPUT_NAME=portals
  PORTALS_BENCH_BIN=${PORTALS_BENCH_BIN:-target/$label/portals} start_server
  (cd end2end && node bench/first-frame.mjs "http://127.0.0.1:$port" "${FIRST_FRAME_RUNS:-15}") |
    tee "$results/first-frame-$label.jsonl"
  stop_server
}

bench_first_frame_trace() {
  say "first frame, traced: cargo leptos build --release --precompress, then ${FIRST_FRAME_RUNS:-9} traced second tabs"
  cargo leptos build --release --precompress 2>&1 | tail -1
  export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site} LEPTOS_SITE_PKG_DIR=pkg LEPTOS_OUTPUT_NAME=portals
  start_server
  (cd end2end && node bench/first-frame-trace.mjs "http://127.0.0.1:$port" "${FIRST_FRAME_RUNS:-9}") |
    tee "$results/first-frame-trace.jsonl"
  stop_server
}

case "$what" in
relay | memory | join | page | bundle | wall | heap | cluster) "bench_$what" ;;
first-frame) bench_first_frame ;;
first-frame-trace) bench_first_frame_trace ;;
versus) bench_versus "${2:-}" ;;
all) for each in join relay memory page bundle wall first_frame first_frame_trace cluster; do "bench_$each"; done ;;
*)
  sed -n '4,/^#$/p' "$0"
  exit 2
  ;;
esac
echo "raw output: $results"
