# Quick start: `make serve` and `make test`. Everything else is a convenience over CMake presets.
.PHONY: all deps build serve test test-debug debug fuzz cuda test-cuda bench clean

JOBS ?= $(shell nproc)
MODEL ?=
STRATA := build/release/bin/strata

all: build

deps:
	@scripts/install-deps

build/release/build.ninja: CMakeLists.txt CMakePresets.json
	cmake --preset release

build: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS)

# Serves MODEL=... (or the built-in demo model) on 127.0.0.1:8080; ARGS="-np 4 --port 9000" adds flags.
serve: deps build/release/build.ninja
	cmake --build --preset release -j $(JOBS) --target strata
	@scripts/serve "$(STRATA)" "$(MODEL)"

test: build
	ctest --preset release

debug: deps
	cmake --preset debug
	cmake --build --preset debug -j $(JOBS)

test-debug: debug
	ctest --preset debug

fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz -j $(JOBS)

# The CUDA backend (sm_80 and sm_90): strata and the GPU tests and benchmark. test-cuda runs
# those tests, which skip with a message on a machine without a GPU.
cuda: deps
	cmake --preset cuda
	cmake --build --preset cuda -j $(JOBS)

test-cuda: cuda
	ctest --preset cuda

bench: build
	@for b in build/release/bin/bench_*; do echo "== $$b"; $$b; done

clean:
	rm -rf build
