# sigstore-kms-plugins: every task a developer or CI runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export CARGO_TERM_COLOR ?= never
# Use the installed Go; never download a toolchain.
export GOTOOLCHAIN := local
GO_HARNESS := tests/interop/go

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## Build the CLI and the bundled localkms plugin; generate a key, sign, verify (no cloud account)
	cargo build --quiet --bin sigstore-kms --bin sigstore-kms-localkms
	scripts/demo.sh target/debug

.PHONY: test
# In the full run the Python and Node hosts must take part in the interop checks, never be skipped.
test: export INTEROP_REQUIRE := python,node
# The release workspace is built once, by `make dist`; the Python and Node suites, the interop
# checks through them and the provider end-to-end tests then test those artifacts: the wheel, the
# platform package's addon with its plugins/, and the provider programs (unpacked from the
# tarballs by dist-unpack), instead of building their own.
test: export SKP_PY_WHEEL := $(CURDIR)/dist
test: export SIGSTORE_KMS_PLUGINS_NATIVE := $(CURDIR)/target/dist-test/package/sigstore-kms-plugins.linux-x64-gnu.node
test: export INTEROP_PROVIDER_BIN_DIR := $(CURDIR)/target/dist-test/bin
test: setup lint test-rust test-rust-portable test-go dist dist-unpack test-dist test-python test-node test-node-matrix test-interop test-providers ## Run every test (what CI runs)
	@echo "all test suites passed"

.PHONY: setup
setup: ## Check the toolchains and fetch dependencies
	@command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (https://rustup.rs)"; exit 1; }
	@command -v go >/dev/null || { echo "error: go not found: install Go >= 1.22 for the interop tests"; exit 1; }
	@command -v python3 >/dev/null || { echo "error: python3 not found: install Python >= 3.9"; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js >= 20"; exit 1; }
	-rustup component add clippy rustfmt 2>/dev/null
	cargo fetch --quiet
	cd $(GO_HARNESS) && go mod download

.PHONY: lint
lint: ## rustfmt, clippy (pedantic, warnings are errors), rustdoc (missing docs are errors)
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	RUSTDOCFLAGS="-D warnings -D missing_docs" cargo doc --workspace --no-deps --quiet

.PHONY: test-rust
test-rust: ## Rust unit, integration, property and doc tests
	cargo test --workspace

.PHONY: test-rust-portable
test-rust-portable: ## The Rust suite again on the core's portable system-call path (poll, posix_spawn, no pidfd)
	cargo test --workspace --features sigstore-kms-plugins/portable

.PHONY: test-go
test-go: ## Go harness: vet, and check tests/vectors still match the Go reference byte for byte
	cd $(GO_HARNESS) && go vet ./... && go test ./...

.PHONY: test-python
test-python: ## Python package: venv, pip install . (or SKP_PY_WHEEL), stubtest, mypy --strict, pytest
	python/scripts/test.sh

.PHONY: test-node
test-node: ## npm package: npm ci (builds the addon; SIGSTORE_KMS_PLUGINS_NATIVE: tests that one), .d.ts diff check, tsc --strict, node --test
	@if [[ -n "$${SIGSTORE_KMS_PLUGINS_NATIVE:-}" ]]; then echo "testing the prebuilt addon $$SIGSTORE_KMS_PLUGINS_NATIVE and its plugins/"; fi
	npm ci --no-audit --no-fund
	npm test

.PHONY: test-node-matrix
test-node-matrix: ## The npm package on Node 22 and 24 (official builds, cached) with sigstore-js previous and current majors (after test-node)
	node node/scripts/matrix.js

.PHONY: test-interop
test-interop: ## Interop with the Go reference and cosign, both directions (INTEROP_COSIGN=0: without cosign)
	tests/interop/run.sh

.PHONY: test-providers
test-providers: ## Provider plugins against real local servers (local-kms, OpenBao, SoftHSM2), in a private network namespace
	tests/providers/run.sh

.PHONY: dist
dist: ## Release artifacts in dist/: manylinux abi3 wheel, sdist, npm main + linux-x64-gnu platform packages, providers
	python3 packaging/dist.py

.PHONY: dist-unpack
dist-unpack: ## Unpack dist/'s npm platform packages into target/dist-test (what make test's suites run)
	python3 packaging/dist.py --unpack target/dist-test

.PHONY: test-dist
test-dist: ## Install dist/ as users do (fresh venvs: CPython 3.9-3.13; npm projects: Node 20, 22, 24), no cargo or source tree
	python3 packaging/install_test.py

.PHONY: bench
bench: ## Benchmarks: our hosts vs. the Go reference vs. the floor, one table (~5 min; bench/README.md)
	python3 bench/run.py

.PHONY: fuzz
fuzz: ## Fuzz the decoders and URI parser for FUZZ_SECONDS each (needs nightly; installs cargo-fuzz)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	for t in decode_response decode_request parse_uri; do \
	  cargo +nightly fuzz run $$t -- -max_total_time=$${FUZZ_SECONDS:-60} -max_len=4096; done

.PHONY: vectors
vectors: ## Regenerate tests/vectors with the Go reference
	cd $(GO_HARNESS) && go run ./cmd/genvectors -out ../../vectors

.PHONY: clean
clean: ## Remove build outputs
	cargo clean
