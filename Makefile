# EDDP toolkit — build, test and benchmark.
#
#   make            build libcore and every tool into bin/
#   make test       unit tests (+ ASan/UBSan build), tool tests, the SLURM test;
#                   "N passed, N failed"
#   make test-slurm the pipelines on a one-node SLURM cluster (README, "Clusters")
#   make synthetic  the paper's synthetic experiment (pipelines/synthetic.mk)
#   make bench      benchmarks (ratios, never pass/fail)
#   make deps       install missing Debian packages (as root)

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

# Debian packages the build, the tests and the pipelines need.
DEB_PACKAGES := build-essential pkg-config libhdf5-dev hdf5-tools libopenblas-openmp-dev \
                liblapacke-dev gnuplot-nox python3-h5py python3-numpy

# OpenBLAS's OpenMP build, so that BLAS and our own parallel loops share one
# OpenMP thread pool (the pthread build spins its own threads against ours).
# DT_RPATH (not RUNPATH) makes liblapacke's LAPACK resolve there too.
OPENBLAS_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS := hdf5-serial openblas lapacke
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
                $(DEPS_PREFIX)/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h $(DEPS_PREFIX)/usr/include/lapacke.h
PKG_CFLAGS = -I$(DEPS_PREFIX)/usr/include/hdf5/serial -I$(DEPS_PREFIX)/usr/include/x86_64-linux-gnu/openblas-openmp \
             -I$(DEPS_PREFIX)/usr/include
PKG_LIBS = $(addprefix -L,$(DEPS_LIBDIRS)) -lhdf5 -lopenblas -llapacke \
           -Wl,--disable-new-dtags -Wl,-rpath,$(subst $(eval) ,:,$(strip $(DEPS_LIBDIRS)))
endif

CC ?= gcc
OPT ?= -O2
WARN := -Wall -Wextra -Werror
CFLAGS_ALL = -std=c11 $(OPT) -g $(WARN) -fopenmp -fno-math-errno -D_GNU_SOURCE -DEDDP_DATADIR='"$(CURDIR)/data"' -iquote libcore $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -fopenmp -lmvec -lm $(LDLIBS)

# CUDA backend: built when nvcc exists (PATH or /usr/local/cuda), CPU-only otherwise.
NVCC ?= $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

LIB_SRC := $(wildcard libcore/*.c)
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

CU_SRC := $(wildcard libcore/cuda/*.cu)
ifneq ($(and $(NVCC),$(CU_SRC)),)
CU_OBJ := $(patsubst %.cu,build/%.o,$(CU_SRC))
CUDA_DEFS := -DEDDP_HAVE_CUDA -I$(CUDA_HOME)/include
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcusolver -lcublas -lcudart -lstdc++
BACKEND_LINE := backend: CPU (OpenBLAS + OpenMP) and CUDA ($(NVCC), sm_90)
else ifeq ($(NVCC),)
BACKEND_LINE := backend: CPU only (OpenBLAS + OpenMP); nvcc not found, no CUDA backend
else
BACKEND_LINE := backend: CPU only (OpenBLAS + OpenMP); no CUDA sources in libcore/cuda
endif

.PHONY: all deps test unit-tests asan-tests tool-tests test-slurm bench bench-gpu clean
# Tool objects are made by a pattern rule: keep them between builds.
.SECONDARY: $(patsubst tools/%.c,build/tools/%.o,$(TOOL_SRC))

all: build/.deps-ok $(TOOLS)
	@echo "$(BACKEND_LINE)"

# Installs what is missing; a stamp keeps later builds from asking dpkg again.
deps: build/.deps-ok
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
build/.deps-ok:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
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
	@mkdir -p build && touch $@
endif

build/%.o: %.c $(wildcard libcore/*.h) | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) $(CUDA_DEFS) -c $< -o $@

# H200 = sm_90 (SASS) plus compute_90 PTX; one architecture keeps CI's
# compile short. nvcc has no -iquote of its own: the host compiler gets it.
NVCC_ARCH ?= -gencode 'arch=compute_90,code=[sm_90,compute_90]'
build/libcore/cuda/%.o: libcore/cuda/%.cu $(wildcard libcore/*.h libcore/cuda/*.h libcore/cuda/*.cuh) | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  NVCC    $<"
	@$(NVCC) -O2 -std=c++17 $(NVCC_ARCH) -Xcompiler -iquote,libcore -Xcompiler -Wall,-Wextra,-Werror -c $< -o $@

build/libcore/device.o: libcore/cuda/backend.h

build/libcore.a: $(LIB_OBJ) $(CU_OBJ)
	@ar rcs $@ $^

bin/%: build/tools/%.o build/libcore.a
	@mkdir -p bin
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $< build/libcore.a $(LDLIBS_ALL) $(CUDA_LIBS) -o $@

build/tests/%: tests/unit/%.c build/libcore.a tests/harness.h tests/gradcheck.h
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(CUDA_DEFS) -Itests $< build/libcore.a $(LDLIBS_ALL) $(CUDA_LIBS) -o $@

build/bench/%: bench/%.c build/libcore.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(CUDA_DEFS) $< build/libcore.a $(LDLIBS_ALL) $(CUDA_LIBS) -o $@

# Sanitizer build of libcore and the unit tests (CPU code only).
build-asan/%.o: %.c $(wildcard libcore/*.h) | build/.deps-ok
	@mkdir -p $(dir $@)
	@echo "  CC asan $<"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN_FLAGS) -c $< -o $@

build-asan/libcore.a: $(ASAN_OBJ)
	@ar rcs $@ $^

build-asan/tests/%: tests/unit/%.c build-asan/libcore.a tests/harness.h tests/gradcheck.h
	@mkdir -p $(dir $@)
	@echo "  LD asan $@"
	@$(CC) $(CFLAGS_ALL) -O1 $(ASAN_FLAGS) -Itests $< build-asan/libcore.a $(LDLIBS_ALL) -o $@

unit-tests: $(UNIT_BIN)
	@tests/run-suites build/tests $(UNIT_BIN)

asan-tests: $(ASAN_BIN)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run-suites build-asan/tests $(ASAN_BIN)

tool-tests: all
	@tests/run-suites tests/tools $(wildcard tests/tools/test-*.sh)

# The pipelines on a one-node SLURM cluster (tests/slurm/; README, "Clusters").
# Its Debian packages are installed when missing and make runs as root; the
# test says "skipped" with the reason where they are absent or not root.
SLURM_PACKAGES := slurm-wlm munge
test-slurm: all build/.slurm-deps-ok
	@tests/run-suites tests/slurm tests/slurm/test-slurm.sh

build/.slurm-deps-ok: | build/.deps-ok
	@missing=$$(for p in $(SLURM_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && [ -z "$(DEPS_PREFIX)" ]; then \
	  echo "deps: installing $$missing (the SLURM test)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null && missing=; \
	fi; \
	if [ -z "$$missing" ]; then touch $@; fi

# The README's test command: every suite, then one closing "N passed, N failed".
test: all $(UNIT_BIN) $(ASAN_BIN) build/.slurm-deps-ok
	@tests/run-suites all $(UNIT_BIN) $(ASAN_BIN) $(wildcard tests/tools/test-*.sh) $(wildcard tests/slurm/test-*.sh)

bench: all $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b; done
	@for s in $(filter-out bench/gpu-check.sh,$(wildcard bench/*.sh)); do echo "== $$s"; bash $$s; done

# The GPU benchmark (bench/bench_gpu.c): a Broden-scale synthetic set by
# default; BENCH_GPU_ARGS passes options (e.g. --images 8192).
bench-gpu: all build/bench/bench_gpu
	build/bench/bench_gpu $(BENCH_GPU_ARGS)

clean:
	rm -rf build build-asan bin

-include pipelines/*.mk
