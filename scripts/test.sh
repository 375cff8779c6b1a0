#!/usr/bin/env bash
# Sets up what is missing, then runs every check: format, lints for both targets, unit and
# integration tests, and the Playwright end-to-end tests in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
started=$SECONDS

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy, server (ssr)"
cargo clippy --features ssr --all-targets -- -D warnings

step "clippy, browser (hydrate, wasm32)"
cargo clippy --features hydrate --target wasm32-unknown-unknown -- -D warnings

step "unit and integration tests"
cargo test --features ssr

step "type-check the end-to-end tests"
(cd end2end && tsc --noEmit -p .)

step "end-to-end tests (cargo leptos end-to-end)"
cargo leptos end-to-end

printf '\n\033[1;32mall checks passed in %ss\033[0m\n' "$((SECONDS - started))"
