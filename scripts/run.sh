#!/usr/bin/env bash
# Sets up what is missing, then serves the app with live reload on http://127.0.0.1:3000.
# `scripts/run.sh serve` serves a release build instead (no reload); `scripts/run.sh tls`
# serves https on every interface with the self-signed certificate, for phones, with live
# reload through the server's own port (see src/server/live_reload.rs).
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
mode=${1:-watch}
if [ "$mode" = "tls" ]; then
  export PORTALS_TLS_SELF_SIGNED=true
  export LEPTOS_SITE_ADDR="${LEPTOS_SITE_ADDR:-0.0.0.0:3000}"
  # The page's reload script connects to the server's own port, over its TLS.
  export LEPTOS_RELOAD_EXTERNAL_PORT="${LEPTOS_SITE_ADDR##*:}"
  echo "portals: the server prints the https URLs to open, and the certificate's fingerprint"
else
  echo "portals: open http://127.0.0.1:3000/?room=home in several tabs"
fi
case "$mode" in
  # --precompress writes a brotli and a gzip file beside each of the bundle's files, which the
  # server sends to the browsers that take them: 1.1 MB of wasm goes out as 0.34 MB.
  serve) exec cargo leptos serve --release --precompress ;;
  watch | tls) exec cargo leptos watch ;;
  *) echo "usage: scripts/run.sh [watch|serve|tls]" >&2; exit 2 ;;
esac
