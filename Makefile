# The front door. `make check` and `make demo` do all the set-up on a fresh
# Debian 12 machine (as root): install what is missing, configure, build, run.
BUILD      ?= build
BUILD_ASAN ?= build-asan
JOBS       ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps configure build check check-sanitize memcheck demo bench clean format

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DPATHFLOW_WERROR=ON $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
check-sanitize: deps
	cmake -S . -B $(BUILD_ASAN) -DPATHFLOW_WERROR=ON -DPATHFLOW_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

# Every suite under valgrind's memcheck (about two hours of CPU; not in CI).
memcheck: build
	sh scripts/memcheck.sh $(BUILD)

# The quick start: a coupling flow and a continuous flow (CVODES) learn the
# 2-D Gaussian mixture with the fast path gradient. Builds only the tool.
demo: deps configure
	cmake --build $(BUILD) -j $(JOBS) --target pathflow_cli
	./$(BUILD)/pathflow train configs/quickstart.cfg --out runs/demo --force
	./$(BUILD)/pathflow train configs/cnf_gmm2d_reverse_path.cfg --out runs/demo-cnf --force
	@echo 'demo: results in runs/demo (RealNVP) and runs/demo-cnf (CNF): config.cfg, metrics.csv, checkpoint.pfc, samples.npy, log_weights.npy; with gnuplot training.png, samples.png (+ training.gp, samples.gp, samples_plot.dat, density_plot.dat)'

# Estimator cost on every flow kind: Markdown on stdout, CSV and PNG in runs/bench.
bench: build
	./$(BUILD)/pathflow bench --out runs/bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
