#!/usr/bin/env bash
# Sets up what is missing, then serves the app with live reload on http://127.0.0.1:3000.
# `scripts/run.sh serve` serves a release build instead (no reload).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"
# cargo-leptos restarts the server on every change; with a stable secret the open tabs get
# their ids back and their video keeps playing. Generated once per checkout, never committed.
if [ -z "${PORTALS_SECRET:-}" ]; then
  mkdir -p target
  [ -s target/dev-secret ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > target/dev-secret
  PORTALS_SECRET=$(cat target/dev-secret)
  export PORTALS_SECRET
fi
echo "portals: open http://127.0.0.1:3000/?room=home in several tabs"
if [ "${1:-watch}" = "serve" ]; then
  exec cargo leptos serve --release
else
  exec cargo leptos watch
fi
