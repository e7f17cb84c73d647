# Thin wrapper around CMake. `make run` and `make test` work on a fresh Debian 12
# machine: they install missing build dependencies first (deploy/install-deps.sh).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_ARGS ?= --output-on-failure --timeout 1200

.PHONY: all deps build build-asan run test test-normal test-asan bench format clean

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHDB_SANITIZE=ON

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/Makefile
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Until the server exists, the main job is a short demonstration of the engine
# on ./data/ that prints what it did.
run: build
	./$(BUILD)/tools/heliosdb-demo ./data

test-normal: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && HDB_SANITIZED=1 ctest $(CTEST_ARGS) -j $(JOBS)

test: test-normal test-asan

bench: build
	./$(BUILD)/bench/bench_core

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
