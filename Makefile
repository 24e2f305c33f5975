# leaven's two entry points: `make demo` and `make test`. Both set up what they
# need (test engines, the frontend image) on a fresh machine.

SHELL := /bin/bash
ENGINES_ENV := source tests/engines/env.sh
TARGET := x86_64-unknown-linux-gnu
CARGO_TARGET_DIR ?= target
STATIC_BIN := $(CARGO_TARGET_DIR)/$(TARGET)/release/leaven
IMAGE_DIR := target/frontend-image

.PHONY: demo test unit e2e engines frontend-image static clippy bench-frontend bench-build bench-compile bench-bake bench-drive bench-pool clean-engines fuzz

## Build the hello example with `leaven bake` (the spec compiled in-process, no
## frontend image) on the Docker 28 engine, and run `id` in the image.
demo: engines
	cargo build --release --locked --quiet
	@$(ENGINES_ENV); cd examples/hello && \
	  DOCKER_HOST=unix:///run/leaven-test/docker-28.sock DOCKER_CONFIG=$$LEAVEN_ENGINES/config-28 \
	    $(abspath $(CARGO_TARGET_DIR))/release/leaven bake --progress quiet && \
	  "$$DOCKER_28" run --rm leaven-demo/hello id

## Every test: clippy, unit tests, then end-to-end builds on both engines.
test: frontend-image
	cargo clippy --all-targets -- -D warnings
	cargo test

## Unit tests only (no engine needed).
unit:
	cargo test --lib --bins

e2e: frontend-image
	cargo test --test e2e

engines:
	bash tests/engines/provision.sh

## The static binary: glibc static-pie, runs in a FROM scratch image.
static:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target $(TARGET)

## The frontend image, loaded into every test engine as leaven:dev.
frontend-image: engines static
	@mkdir -p $(IMAGE_DIR)
	@cp $(STATIC_BIN) bake/frontend.Dockerfile $(IMAGE_DIR)/
	@$(ENGINES_ENV); for docker in "$$DOCKER_20" "$$DOCKER_28" "$$DOCKER_28C"; do \
	  "$$docker" build -q -f $(IMAGE_DIR)/frontend.Dockerfile -t leaven:dev $(IMAGE_DIR) >/dev/null || exit 1; \
	done
	@$(ENGINES_ENV); printf 'leaven:dev loaded: %s bytes\n' "$$("$$DOCKER_28" image inspect leaven:dev --format '{{.Size}}')"

clippy:
	cargo clippy --all-targets -- -D warnings

## Overhead of frontend images against the builtin Dockerfile frontend: a floor
## that returns at once, the official Dockerfile frontend (when loaded as
## leaven-bench/dockerfile-frontend:<version>) and leaven:dev, with its own time.
## LEAVEN_BENCH_FRONTEND=image[,image…] measures other leaven images instead.
bench-frontend: frontend-image
	cargo bench --bench frontend

## Django example: spec vs hand-written Dockerfile, cold/no-op/code/deps rebuilds.
bench-build: frontend-image
	cargo bench --bench build

## Spec → LLB compile: leaven (criterion) and BuildKit's dockerfile2llb on every spec/Dockerfile
## pair, same fixtures; the peer is a by-hand build outside the repo, found in the cache dir
## (the bench says how when it is missing, and prints leaven's figures alone).
bench-compile:
	cargo bench --bench spec_to_llb

## leaven bake --print against docker buildx bake --print: times and ratios.
bench-bake: engines
	cargo bench --bench bake

## leaven bake building against docker buildx bake: 10 targets cold and no-op, a cached spec target.
bench-drive: frontend-image
	cargo build --release --locked
	cargo bench --bench drive

## Recorded bake runs replayed through leaven's placement (and buildx's) for 1-8 nodes.
bench-pool:
	cargo bench --bench pool

## Every fuzz target for FUZZ_TIME seconds each (cargo-fuzz on nightly), seeded
## from the examples and the bake corpus. A crash stops the run; its input is in
## fuzz/artifacts/TARGET/ and belongs in tests/fuzz_regressions.rs once fixed.
FUZZ_TIME ?= 1800
FUZZ_TARGETS ?= spec bake dockerignore llb
BAKE_SEEDS ?= $(firstword $(wildcard ../shared/corpus/bake/files /work/shared/corpus/bake/files))
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	@mkdir -p $(addprefix fuzz/corpus/,spec bake dockerignore $(FUZZ_TARGETS))
	@for f in examples/*/app.hcl examples/*/.dockerignore; do \
	  case $$f in *.hcl) kind=spec ;; *) kind=dockerignore ;; esac; \
	  cp $$f fuzz/corpus/$$kind/$$(basename $$(dirname $$f)); \
	done
	@cp tests/fixtures/*.hcl fuzz/corpus/spec/
	@cp tests/docker-bake.hcl $(wildcard $(BAKE_SEEDS)/*) fuzz/corpus/bake/
	@for target in $(FUZZ_TARGETS); do \
	  echo "fuzz $$target for $(FUZZ_TIME) s"; \
	  cargo +nightly fuzz run $$target fuzz/corpus/$$target -- \
	    -max_total_time=$(FUZZ_TIME) -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 || exit 1; \
	done

clean-engines:
	bash tests/engines/provision.sh stop
