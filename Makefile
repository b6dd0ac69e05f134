# The two commands a new user needs: `make demo` and `make test`.
# Each installs what is missing (Debian packages), configures, builds (Release, all cores) and runs.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test demo demo-mlp bench fuzz sanitize clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Grapheme-to-phoneme on the CMU dictionary (docs/g2p.md): DEMO_MINUTES of training (default 10).
demo: build
	@bash examples/demo.sh $(BUILD)

# The first demo: an MLP through the DSL, weft-dump and a shared object.
demo-mlp: build
	@bash examples/mlp/demo.sh $(BUILD)

# The benchmarks against the peers (docs/benchmarks.md); the first run creates $(BUILD)/bench-venv with pip.
bench: build
	@bash scripts/install-deps.sh --bench
	@bash bench/run.sh $(BUILD)

# libFuzzer (clang-19, its own build directory): every target for FUZZ_SECONDS each, one after the
# other, each from its seed corpus (tests/fuzz/corpus/, copied so the committed seeds stay as they are).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = parser safetensors npy capi_weights
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
	@cmake --build build-fuzz -j $(JOBS) $(foreach t,$(FUZZ_TARGETS),--target fuzz_$(t))
	@mkdir -p build-fuzz/corpus/parser build-fuzz/corpus/safetensors build-fuzz/corpus/npy build-fuzz/corpus/capi_weights
	@cp -n tests/fixtures/*.weft build-fuzz/corpus/parser/ 2>/dev/null || true
	@cp -n tests/fuzz/corpus/safetensors/* build-fuzz/corpus/safetensors/
	@cp -n tests/fuzz/corpus/safetensors/* build-fuzz/corpus/capi_weights/
	@cp -n tests/fuzz/corpus/npy/* build-fuzz/corpus/npy/
	@for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  build-fuzz/tests/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/crash-$$t- build-fuzz/corpus/$$t 2>build-fuzz/fuzz_$$t.log \
	    || { tail -40 build-fuzz/fuzz_$$t.log; echo "fuzz: fuzz_$$t found a failure (build-fuzz/crash-$$t-*)"; exit 1; }; \
	  grep -E '^stat::number_of_executed_runs|^Done' build-fuzz/fuzz_$$t.log | tr '\n' ' '; echo; \
	done

# ASan + UBSan build of everything (clang-19, its own build directory); runs the tests.
sanitize: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_SANITIZE=ON \
	  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) build-fuzz build-asan
