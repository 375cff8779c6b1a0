#!/usr/bin/env bash
# Sets up what is missing, then runs every check: format, lints for both targets, unit and
# integration tests, and the end-to-end tests in Chromium (Playwright) and Firefox
# (puppeteer-core), inside a network namespace with only loopback where one can be made.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
started=$SECONDS

step "cargo fmt --check"
cargo fmt --all -- --check

# The server's clippy and tests build with the flag cargo-leptos passes in debug builds
# (leptos's erase_components: type-erased views) and the same LEPTOS_OUTPUT_NAME, so the
# end-to-end server build is the one the tests compiled, not a second one; the clippy runs
# share their build scripts and proc macros with the builds (a check compiles no libraries to
# share). The browser's clippy runs in cargo-leptos's target/front for the same reason, and
# without the flag, so the views are also checked in their release form. The flag is set per
# command, not exported: cargo-leptos appends it to the RUSTFLAGS it inherits, and a doubled
# flag would rebuild everything. (Flags from a cargo config file are not carried over: with
# some there, the end-to-end build compiles the server once more.)
server_rustflags="${RUSTFLAGS:+$RUSTFLAGS }--cfg erase_components"
# leptos reads this one at compile time, and cargo-leptos sets it to output-name in
# Cargo.toml: without it here, the tests and the end-to-end build would rebuild leptos and
# everything above it for each other, on every run.
LEPTOS_OUTPUT_NAME=$(awk -F'"' '/^output-name = / { print $2; exit }' Cargo.toml)
: "${LEPTOS_OUTPUT_NAME:?no output-name in Cargo.toml}"
export LEPTOS_OUTPUT_NAME

step "clippy, server (ssr)"
RUSTFLAGS=$server_rustflags cargo clippy --features ssr --all-targets -- -D warnings

step "clippy, browser (hydrate, wasm32)"
cargo clippy --features hydrate --target wasm32-unknown-unknown --target-dir target/front -- -D warnings

step "unit and integration tests"
RUSTFLAGS=$server_rustflags cargo test --features ssr

step "type-check the end-to-end tests"
(cd end2end && tsc --noEmit -p .)

# The browsers, the servers and the coturn they talk to share a network namespace whose only
# interface is loopback: a test cannot reach the machine's network or be reached from it, and
# ICE has loopback candidates only, whatever interfaces the machine has. cargo needs no
# network in there: the builds above fetched what they compile, and `cargo fetch` the rest
# (cargo-leptos runs `cargo metadata`, which reads the packages of every target, such as
# r-efi for UEFI, that no build here compiles).
# When a test fails, cargo-leptos ends with a long backtrace of its own: the summary the
# Playwright reporter wrote (end2end/summary-reporter.ts) is printed after it, so that the last
# lines of the log name the test and its error.
summary=target/e2e-summary.txt
rm -f "$summary"
end_to_end() {
  if ! RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 "$@"; then
    printf '\n\033[1;31m==> end-to-end tests failed\033[0m\n' >&2
    cat "$summary" >&2 2>/dev/null || echo "(no summary: Playwright did not get to the end)" >&2
    exit 1
  fi
  # Tests that passed only on their retry, for whoever reads the log.
  grep -s '^flaky' "$summary" >&2 || true
}
if netns_error=$(scripts/loopback-netns --check 2>&1); then
  step "end-to-end tests (cargo leptos end-to-end), in a network namespace with only loopback"
  cargo fetch --locked --quiet
  CARGO_NET_OFFLINE=true end_to_end scripts/loopback-netns cargo leptos end-to-end
else
  step "end-to-end tests (cargo leptos end-to-end)"
  echo "no network namespace can be made here (${netns_error:-unshare failed}): the browser" \
    "tests run on this machine's own network" >&2
  end_to_end cargo leptos end-to-end
fi

printf '\n\033[1;32mall checks passed in %ss\033[0m\n' "$((SECONDS - started))"
