# The two commands of the README, plus their parts.
.PHONY: run run-tls serve test setup lint screenshot fuzz

run: ## set up what is missing, then `cargo leptos watch` on http://127.0.0.1:3000
	scripts/run.sh

run-tls: ## the same over https on every interface with a self-signed certificate, for phones
	scripts/run.sh tls

serve: ## the same with a release build, no live reload
	scripts/run.sh serve

test: ## set up what is missing, then every check (fmt, clippy x2, tests, Playwright)
	scripts/test.sh

setup: ## only install what is missing
	scripts/setup.sh

screenshot: ## replace the README's picture with a fresh four-tile wall (on purpose only)
	scripts/screenshot.sh

fuzz: ## fuzz the frame decoder and the hub, FUZZ_SECONDS each (default 600); nightly + cargo-fuzz
	scripts/fuzz.sh
