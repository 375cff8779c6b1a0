#!/usr/bin/env bash
# Replaces the README's picture (docs/four-tile-wall.png) with a fresh one from the four-page
# end-to-end test. Only on purpose: `make test` writes its screenshots under end2end/test-results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/end2end/node_modules/.bin:$PATH"
export LEPTOS_OUTPUT_NAME=portals
cargo leptos build
LEPTOS_SITE_ADDR=127.0.0.1:3000 LEPTOS_SITE_ROOT=target/site PORTALS_LOG=warn target/debug/portals &
server=$!
trap 'kill $server' EXIT
(cd end2end && UPDATE_README_SCREENSHOT=1 npx playwright test wall.spec.ts --grep "four pages")
echo "docs/four-tile-wall.png updated: look at it, then commit it"
