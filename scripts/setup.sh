#!/usr/bin/env bash
# Installs everything portals needs to build, run and test, and nothing that is already there:
# a warm run takes about a second. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.10
say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }
# Runs an install and says how long it took: these are the figures the README quotes.
timed() {
  local what=$1 t=$SECONDS
  shift
  "$@"
  say "$what installed in $((SECONDS - t)) s"
}

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# Debian's packages for the end-to-end tests: Chromium and Firefox ESR (Playwright's and
# puppeteer's own browser downloads cannot work on a closed network), coturn, the TURN relay
# the tests run beside the server, and redis-server, which the cluster tests start on
# loopback. They download and unpack while the compilers below use the cores. sudo asks for a
# password, if it needs one, here in the foreground; in the background it must not ask (-n).
# apt waits for a lock another apt holds (unattended-upgrades on a new
# machine) instead of failing, and if this script stops early it waits for the install to end
# rather than leave it running behind the next attempt.
debian_packages=()
[ -x /usr/bin/chromium ] || debian_packages+=(chromium)
[ -x /usr/bin/firefox-esr ] || debian_packages+=(firefox-esr)
command -v turnserver >/dev/null || debian_packages+=(coturn)
command -v redis-server >/dev/null || debian_packages+=(redis-server)
# `ip`, for the tests' network namespace (scripts/loopback-netns).
command -v ip >/dev/null || debian_packages+=(iproute2)
apt_pid=""
if [ "${#debian_packages[@]}" -gt 0 ]; then
  say "installing Debian's ${debian_packages[*]} in the background (log: target/setup-apt.log)"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo -n"
    sudo -v || true
  fi
  mkdir -p target
  install_packages() {
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
      "${debian_packages[@]}"
    # Debian starts coturn as a service with its default configuration, on every interface:
    # the tests start their own on loopback, and nobody asked for this one.
    if [[ " ${debian_packages[*]} " == *" coturn "* ]] && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now coturn || true
    fi
    # The same for Redis, which Debian binds to loopback but leaves running for good.
    if [[ " ${debian_packages[*]} " == *" redis-server "* ]] && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now redis-server || true
    fi
  }
  timed "${debian_packages[*]}" install_packages > target/setup-apt.log 2>&1 &
  apt_pid=$!
  trap 'if kill -0 "$apt_pid" 2>/dev/null; then
          echo "setup: waiting for the apt install to end" >&2; wait "$apt_pid" || true
        fi' EXIT
fi

# The browser build.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# cargo-leptos builds both halves and serves them. no_downloads: it must use the tools below
# instead of fetching binaries from the internet. --debug: it only drives other tools (cargo,
# wasm-bindgen, the CSS step), so an unoptimised build serves as fast, and skipping its
# release profile (fat LTO, one codegen unit) cut the install from about 18 minutes to a few
# on 2 cores (253 s measured, 214 s with the system's OpenSSL); without debug info, which nobody reads in a tool, it compiles faster
# still (measured on the wasm-bindgen CLI's debug build: 1 min 55 s with, 1 min 41 s
# without). The check is on the version only, so an optimised cargo-leptos of the right
# version that is already installed is kept.
#
# Its `cargo leptos new` pulls in git2 with a vendored OpenSSL, whose C build was more than half
# of the whole install (132 of 253 s): where the system's OpenSSL headers are there
# (libssl-dev), OPENSSL_NO_VENDOR links that instead.
if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  openssl=""
  if pkg-config --exists openssl 2>/dev/null; then
    openssl="OPENSSL_NO_VENDOR=1"
  fi
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (2 to 5 minutes on 2 cores, once)"
  timed cargo-leptos env CARGO_PROFILE_DEV_DEBUG=0 $openssl cargo install cargo-leptos \
    --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --debug
fi

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
# (Not --locked: its lockfile names a webpki-roots the registry no longer has.) Unoptimised too,
# measured on 2 cores: it installs in 40 s instead of 97 s, and a release `cargo leptos build`
# takes 42.7 s with it against 42.3 s (wasm-opt, not wasm-bindgen, is that step's cost: 0.74 s
# against 0.19 s on the release wasm). A debug build pays 1.8 s more (2.4 s against 0.6 s on the
# debug wasm), on each reload of `make run`. An optimised one already installed is kept.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  say "installing wasm-bindgen-cli $wasm_bindgen_version (about a minute, once)"
  timed wasm-bindgen-cli env CARGO_PROFILE_DEV_DEBUG=0 cargo install wasm-bindgen-cli \
    --version "$wasm_bindgen_version" --force --debug
fi

if [ -n "$apt_pid" ]; then
  if ! wait "$apt_pid"; then
    cat target/setup-apt.log >&2
    echo "setup: installing ${debian_packages[*]} failed (log above)" >&2
    exit 1
  fi
  tail -n 1 target/setup-apt.log
fi

# Playwright, TypeScript and binaryen's wasm-opt (release builds), from package-lock.json.
if [ ! -f end2end/node_modules/.package-lock.json ] ||
  [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing the npm packages of end2end/"
  timed "the npm packages" npm ci --prefix end2end --no-audit --no-fund
fi
