# EDDP toolkit — build, test and benchmark.
#
#   make            build libcore and every tool into bin/
#   make test       unit tests (+ ASan/UBSan build), tool tests, the SLURM test;
#                   "N passed, N failed"
#   make test-slurm the pipelines on a one-node SLURM cluster (README, "Clusters")
#   make synthetic  the paper's synthetic experiment (pipelines/synthetic.mk)
#   make synthetic-sweep  the recipe over a grid of synthetic configurations (pipelines/sweep.mk)
#   make bench      benchmarks (ratios, never pass/fail)
#   make bench-torch the CPU backend side by side with PyTorch (bench/bench_torch.sh)
#   make deps       install missing Debian packages (as root)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

# Debian packages the build, the tests and the pipelines need.
DEB_PACKAGES := build-essential pkg-config libhdf5-dev hdf5-tools libopenblas-openmp-dev \
                liblapacke-dev gnuplot-nox python3-h5py python3-numpy zlib1g-dev
# Only the watermark experiment (make watermark) needs the real images:
# build/.watermark-deps-ok installs them like the packages above.
WATERMARK_DEB_PACKAGES := dataset-fashion-mnist
# Optional packages: the tests that need them say "skipped" and why without
# them; `make deps-optional` installs them (python3-torch, for the PyTorch
# bridge test, needs about 800 MB of disk with its dependencies).
DEB_PACKAGES_OPTIONAL := python3-torch

# OpenBLAS's OpenMP build, so that BLAS and our own parallel loops share one
# OpenMP thread pool (the pthread build spins its own threads against ours).
# DT_RPATH (not RUNPATH) makes liblapacke's LAPACK resolve there too.
OPENBLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS := hdf5-serial openblas lapacke zlib
ifndef DEPS_PREFIX
PKG_CFLAGS = $(shell PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig pkg-config --libs $(PKGS) 2>/dev/null) \
           -Wl,--disable-new-dtags -Wl,-rpath,$(OPENBLAS_DIR)
else
# DEPS_PREFIX=/tmp/eddp-deps: the same packages unpacked there with dpkg -x
# (bench/gpu-prepare.sh downloads them, bench/gpu-check.sh unpacks them on a
# machine without apt): headers and libraries from the prefix, no pkg-config
# (its .pc files name /usr), and an RPATH into the prefix, OpenBLAS's dir
# first, so that liblapacke's libblas.so.3/liblapack.so.3 (alternatives
# links on a system install, absent in the prefix) resolve to OpenBLAS there.
# Some Debian 12 packages (libcom-err2, libkeyutils1) still ship in /lib.
DEPS_LIBDIRS := $(DEPS_PREFIX)$(OPENBLAS_DIR) $(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu/hdf5/serial \
                $(DEPS_PREFIX)/usr/lib/x86_64-linux-gnu $(DEPS_PREFIX)/lib/x86_64-linux-gnu
DEPS_HEADERS := $(DEPS_PREFIX)/usr/include/hdf5/serial/hdf5.h \
                $(DEPS_PREFIX)/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h $(DEPS_PREFIX)/usr/include/lapacke.h \
                $(DEPS_PREFIX)/usr/include/zlib.h
PKG_CFLAGS = -I$(DEPS_PREFIX)/usr/include/hdf5/serial -I$(DEPS_PREFIX)/usr/include/x86_64-linux-gnu/openblas-openmp \
             -I$(DEPS_PREFIX)/usr/include
PKG_LIBS = $(addprefix -L,$(DEPS_LIBDIRS)) -lhdf5 -lopenblas -llapacke -l:libz.so.1 \
           -Wl,--disable-new-dtags -Wl,-rpath,$(subst $(eval) ,:,$(strip $(DEPS_LIBDIRS)))
endif

CC ?= gcc
OPT ?= -O2
WARN := -Wall -Wextra -Werror
CFLAGS_ALL = -std=c11 $(OPT) -g $(WARN) -fopenmp -fno-math-errno -D_GNU_SOURCE -DEDDP_DATADIR='"$(CURDIR)/data"' $(LIB_INCLUDE) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -fopenmp -lmvec -lm -ldl $(LDLIBS)

# CUDA backend: built when nvcc exists (PATH or /usr/local/cuda), CPU-only otherwise.
NVCC ?= $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# H200 = sm_90 (SASS) plus compute_90 PTX; one architecture keeps CI's
# compile short.
NVCC_ARCH ?= -gencode 'arch=compute_90,code=[sm_90,compute_90]'

# libcore is grouped by stage of the data flow (README, "Layout"); every
# folder is on the quote-include path, so sources include "h5io.h".
comma := ,
LIB_DIRS := $(sort $(dir $(wildcard libcore/*/*.h)))
LIB_INCLUDE := $(addprefix -iquote ,$(LIB_DIRS:/=))
LIB_HDR := $(wildcard libcore/*/*.h)
LIB_SRC := $(wildcard libcore/*/*.c)
TOOL_SRC := $(wildcard tools/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)
TOOLS := $(patsubst tools/%.c,bin/%,$(TOOL_SRC))

LIB_OBJ := $(patsubst %.c,build/%.o,$(LIB_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))
BENCH_BIN := $(patsubst bench/%.c,build/bench/%,$(BENCH_SRC))
ASAN_OBJ := $(patsubst %.c,build-asan/%.o,$(LIB_SRC))
ASAN_BIN := $(patsubst tests/unit/%.c,build-asan/tests/%,$(UNIT_SRC))
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

CU_SRC := $(wildcard libcore/training/cuda/*.cu)
# The CUDA backend is a plugin, build/lib/eddp-cuda.so, the only binary that
# links the CUDA libraries; uibe/eddp dlopen it on demand (libcore/training/device.c),
# so every tool starts without them and runs where they are absent.
CUDA_PLUGIN := build/lib/eddp-cuda.so
ifneq ($(and $(NVCC),$(CU_SRC)),)
CU_OBJ := $(patsubst %.cu,build/%.o,$(CU_SRC))
PLUGIN_TARGET := $(CUDA_PLUGIN)
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Xlinker -rpath,$(CUDA_HOME)/lib64 -lcusolver -lcublas -lcudart
BACKEND_LINE := backend: CPU (OpenBLAS + OpenMP) and CUDA ($(NVCC), sm_90) as the plugin $(CUDA_PLUGIN)
else ifeq ($(NVCC),)
BACKEND_LINE := backend: CPU only (OpenBLAS + OpenMP); nvcc not found, no CUDA backend
else
BACKEND_LINE := backend: CPU only (OpenBLAS + OpenMP); no CUDA sources in libcore/training/cuda
endif

.PHONY: all deps deps-optional test unit-tests asan-tests tool-tests test-slurm bench bench-gpu bench-torch clean fuzz fuzz-deps
# Tool objects are made by a pattern rule: keep them between builds.
.SECONDARY: $(patsubst tools/%.c,build/tools/%.o,$(TOOL_SRC))

all: build/.deps-ok $(TOOLS) $(PLUGIN_TARGET)
	@echo "$(BACKEND_LINE)"

# Build settings are tracked like sources: build/.settings holds them, and
# is rewritten (so everything depending on it rebuilds) when they change;
# a plugin from other settings is removed at once (`make NVCC=` after a CUDA
# build leaves none behind for the tools to load).
BUILD_SETTINGS := CC=$(CC) OPT=$(OPT) CFLAGS=$(CFLAGS) LDLIBS=$(LDLIBS) NVCC=$(NVCC) CUDA_HOME=$(CUDA_HOME) \
                  NVCC_ARCH=$(NVCC_ARCH) DEPS_PREFIX=$(DEPS_PREFIX)
ifneq ($(strip $(file <build/.settings)),$(strip $(BUILD_SETTINGS)))
$(shell mkdir -p build && rm -f $(CUDA_PLUGIN))
$(file >build/.settings,$(BUILD_SETTINGS))
endif

# $(call deb_install,PACKAGES): a recipe installing those of the Debian
# PACKAGES that dpkg lacks (as root, with apt-get) or, not root, naming them
# and failing. Every package list below goes through it.
deb_install = missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	                          grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "deps: installing $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "deps: missing Debian packages: $$missing" >&2; \
	    echo "deps: run 'sudo make deps' or 'sudo apt-get install $$missing'" >&2; exit 1; \
	  fi; \
	fi

# Installs what is missing; a stamp keeps later builds from asking dpkg again.
deps: build/.deps-ok
deps-optional: build/.deps-ok
	@$(call deb_install,$(DEB_PACKAGES_OPTIONAL))
ifdef DEPS_PREFIX
# With a prefix: no dpkg/apt, a check (every time) that it holds the headers.
.PHONY: build/.deps-ok
build/.deps-ok:
	@missing=$$(for h in $(DEPS_HEADERS); do test -f $$h || echo $$h; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: DEPS_PREFIX=$(DEPS_PREFIX) lacks" $$missing >&2; \
	  echo "deps: unpack bench/gpu-prepare.sh's .gpu-debs/*.deb there (dpkg -x)" >&2; exit 1; \
	fi
	@mkdir -p build && touch $@
else
build/.deps-ok: PACKAGES_NEEDED = $(DEB_PACKAGES)
build/.watermark-deps-ok: PACKAGES_NEEDED = $(WATERMARK_DEB_PACKAGES)
build/.deps-ok build/.watermark-deps-ok:
	@$(call deb_install,$(PACKAGES_NEEDED))
	@mkdir -p build && touch $@
endif

build/%.o: %.c $(LIB_HDR) build/.settings | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

# nvcc has no -iquote of its own: the host compiler gets it.
build/libcore/training/cuda/%.o: libcore/training/cuda/%.cu $(LIB_HDR) $(wildcard libcore/training/cuda/*.h libcore/training/cuda/*.cuh) build/.settings | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	@$(NVCC) -O2 -std=c++17 $(NVCC_ARCH) -DEDDP_CUDA_BUILD_LINE='"CUDA ($(notdir $(NVCC)), sm_90)"' \
	  $(addprefix -Xcompiler -iquote$(comma),$(LIB_DIRS:/=)) -Xcompiler -fPIC,-fvisibility=hidden -Xcompiler -Wall,-Wextra,-Werror -c $< -o $@

# The plugin's own error.c (position-independent, hidden): its status and
# message are read back through the table (backend.h).
build/pic/libcore/base/error.o: libcore/base/error.c libcore/base/error.h build/.settings | build/.deps-ok
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -c $< -o $@

$(CUDA_PLUGIN): $(CU_OBJ) build/pic/libcore/base/error.o build/.settings
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(NVCC) -shared -cudart shared -Xlinker -z,defs $(CU_OBJ) build/pic/libcore/base/error.o $(CUDA_LIBS) -o $@

build/libcore/training/device.o: libcore/training/cuda/backend.h

build/libcore.a: $(LIB_OBJ) build/.settings
	@rm -f $@
	@ar rcs $@ $(LIB_OBJ)

bin/%: build/tools/%.o build/libcore.a
	@mkdir -p bin
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(filter %.o,$^) build/libcore.a $(LDLIBS_ALL) -o $@

# A tool with modes keeps one file per mode in tools/<tool>/ (git's builtin/,
# e.g. tools/featdump/): those objects link into bin/<tool> beside
# tools/<tool>.c, and the folder's headers are the tool's own.
TOOL_PART_DIRS := $(patsubst tools/%/,%,$(sort $(dir $(wildcard tools/*/*.c))))
$(foreach t,$(TOOL_PART_DIRS),$(eval bin/$(t): $(patsubst %.c,build/%.o,$(wildcard tools/$(t)/*.c))) \
  $(eval build-asan/bin/$(t): $(patsubst %.c,build-asan/%.o,$(wildcard tools/$(t)/*.c))) \
  $(eval $(foreach b,build build-asan,$(patsubst %.c,$(b)/%.o,$(wildcard tools/$(t)/*.c tools/$(t).c))): \
         $(wildcard tools/$(t)/*.h)))

# test_device and bench_gpu load the plugin like the tools (their ../lib is
# build/lib); they need it built.
build/tests/%: tests/unit/%.c build/libcore.a tests/harness.h tests/gradcheck.h tests/device_sets.h | $(PLUGIN_TARGET)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -Itests $< build/libcore.a $(LDLIBS_ALL) -o $@

build/bench/%: bench/%.c build/libcore.a | $(PLUGIN_TARGET)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $< build/libcore.a $(LDLIBS_ALL) -o $@

# Sanitizer build of libcore and the unit tests (CPU code only).
build-asan/%.o: %.c $(LIB_HDR) build/.settings | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN_FLAGS) -c $< -o $@

build-asan/libcore.a: $(ASAN_OBJ)
	@rm -f $@
	@ar rcs $@ $^

build-asan/tests/%: tests/unit/%.c build-asan/libcore.a tests/harness.h tests/gradcheck.h tests/device_sets.h
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN_FLAGS) -Itests $< build-asan/libcore.a $(LDLIBS_ALL) -o $@

# Sanitizer build of the tools, and a tool-level suite run under it
# (tests/tools/asan-tools.sh: test-harden.sh on build-asan/bin).
ASAN_TOOLS := $(patsubst tools/%.c,build-asan/bin/%,$(TOOL_SRC))
.SECONDARY: $(patsubst tools/%.c,build-asan/tools/%.o,$(TOOL_SRC))
build-asan/bin/%: build-asan/tools/%.o build-asan/libcore.a
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN_FLAGS) $(filter %.o,$^) build-asan/libcore.a $(LDLIBS_ALL) -o $@

# Fuzzing (issue 10): libFuzzer targets for the .npy parser and the HDF5
# readers (tests/fuzz/), built with Debian's clang, run FUZZ_TIME seconds
# each from a seed corpus made by the tools; not part of `make test`.
FUZZ_DEB_PACKAGES := clang libclang-rt-14-dev
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -O1 -g -Wall -Wno-unknown-pragmas -fopenmp=libgomp -fno-math-errno -D_GNU_SOURCE \
              -DEDDP_DATADIR='"$(CURDIR)/data"' $(LIB_INCLUDE) $(PKG_CFLAGS) $(FUZZ_SAN)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
build-fuzz/%.o: %.c $(LIB_HDR) | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC fuzz $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build-fuzz/libcore.a: $(patsubst %.c,build-fuzz/%.o,$(LIB_SRC))
	@ar rcs $@ $^
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libcore.a
	@echo "  LD fuzz $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< build-fuzz/libcore.a $(PKG_LIBS) -lmvec -lm -o $@
fuzz-deps:
	@$(call deb_install,$(FUZZ_DEB_PACKAGES))
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory all $(FUZZ_TARGETS)
	@bash tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

unit-tests: $(UNIT_BIN)
	@tests/run-suites build/tests $(UNIT_BIN)

asan-tests: $(ASAN_BIN)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run-suites build-asan/tests $(ASAN_BIN)

tool-tests: all build/bench/torch_ref
	@tests/run-suites tests/tools $(wildcard tests/tools/test-*.sh)

# The pipelines on a one-node SLURM cluster (tests/slurm/; README, "Clusters").
# Its Debian packages are installed when missing and make runs as root; the
# test says "skipped" with the reason where they are absent or not root.
SLURM_PACKAGES := slurm-wlm munge
test-slurm: all build/.slurm-deps-ok
	@tests/run-suites tests/slurm tests/slurm/test-slurm.sh

build/.slurm-deps-ok: | build/.deps-ok
	@if [ -z "$(DEPS_PREFIX)" ] && ($(call deb_install,$(SLURM_PACKAGES))) 2>/dev/null; then touch $@; fi

# The README's test command: every suite, then one closing "N passed, N failed".
test: all $(UNIT_BIN) $(ASAN_BIN) $(ASAN_TOOLS) build/bench/torch_ref build/.slurm-deps-ok
	@tests/run-suites all $(UNIT_BIN) $(ASAN_BIN) $(wildcard tests/tools/test-*.sh) tests/tools/asan-tools.sh \
	    $(wildcard tests/slurm/test-*.sh)

# torch_ref is bench_torch.sh's helper (it takes arguments); bench_torch.sh
# has its own target below.
bench: all $(BENCH_BIN)
	@for b in $(filter-out build/bench/torch_ref,$(BENCH_BIN)); do echo "== $$b"; $$b; done
	@for s in $(filter-out bench/gpu-check.sh bench/bench_torch.sh,$(wildcard bench/*.sh)); do echo "== $$s"; bash $$s; done

# The CPU backend side by side with PyTorch (bench/bench_torch.sh, which
# says "skipped" without PyTorch). Optional packages: installed here when
# missing and run as root, never required by the build or the tests.
bench-torch: all build/bench/torch_ref
	@($(call deb_install,$(DEB_PACKAGES_OPTIONAL))) || echo "bench-torch: could not install $(DEB_PACKAGES_OPTIONAL)" >&2
	@bash bench/bench_torch.sh

# The GPU benchmark (bench/bench_gpu.c): a Broden-scale synthetic set by
# default; BENCH_GPU_ARGS passes options (e.g. --images 8192).
bench-gpu: all build/bench/bench_gpu
	build/bench/bench_gpu $(BENCH_GPU_ARGS)

clean:
	rm -rf build build-asan build-fuzz bin

include pipelines/common.mk
-include $(filter-out pipelines/common.mk,$(wildcard pipelines/*.mk))
