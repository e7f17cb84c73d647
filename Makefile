# Thin wrapper around CMake. `make run` and `make test` work on a fresh Debian 12
# machine: they install missing build dependencies first (deploy/install-deps.sh).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CTEST_ARGS ?= --output-on-failure --timeout 1200

.PHONY: all deps build build-asan build-tsan run test test-normal test-asan test-tsan bench format clean

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

$(TSAN_BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHDB_TSAN=ON

# ThreadSanitizer: only the plain tsan_* programs (criterion aborts under TSan).
build-tsan: deps $(TSAN_BUILD)/Makefile
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $$(cd tests/shards && ls tsan_*.c | sed 's/\.c$$//')

# The main job: the server on ./data/ with the default configuration (or $HELIOSDB_CONFIG),
# until Ctrl-C (docs/server.md); it prints where it listens and a curl command to try.
run: build
	./$(BUILD)/tools/heliosdb serve ./data

test-normal: build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

test-asan: build-asan
	cd $(ASAN_BUILD) && HDB_SANITIZED=1 ctest $(CTEST_ARGS) -j $(JOBS)

test-tsan: build-tsan
	cd $(TSAN_BUILD) && ctest $(CTEST_ARGS) -L tsan

test: test-normal test-asan test-tsan

bench: build
	./$(BUILD)/bench/bench_core
	./$(BUILD)/bench/bench_shards

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
