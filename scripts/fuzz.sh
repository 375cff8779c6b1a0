#!/usr/bin/env bash
# Fuzzes the signalling core: the frame decoder and the hub under arbitrary input sequences,
# each for FUZZ_SECONDS (default 600). Needs a nightly toolchain and cargo-fuzz, which it
# installs if they are missing (rustup and crates.io). Not part of `make test`.
#
#   scripts/fuzz.sh              both targets, one after the other
#   scripts/fuzz.sh hub          one target
#   FUZZ_SECONDS=60 scripts/fuzz.sh
#
# Each run prints libFuzzer's final statistics (stat::number_of_executed_units is the number of
# inputs run). A crash leaves its input under fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seconds=${FUZZ_SECONDS:-600}
targets=("${@:-decode hub}")
# shellcheck disable=SC2206
targets=(${targets[*]})
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  printf '\n\033[1;34m==> fuzz %s for %ss\033[0m\n' "$target" "$seconds"
  # Safe Rust needs no address sanitizer to find panics, and runs several times faster without.
  cargo +nightly fuzz run --sanitizer none "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -print_final_stats=1
done
