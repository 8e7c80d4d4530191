#!/usr/bin/env bash
# gpu-check.sh — the one script for a machine with an NVIDIA GPU (issue #5):
# builds with CUDA, runs the CPU-vs-CUDA comparison suite (test_device),
# trains through the tools with --device cuda on a small synthetic set, and
# runs the Broden-scale benchmark (bench_gpu). Every log goes under $OUT
# (default ./gpu-logs). Exit status: 0 when every comparison passed, 1 when
# one failed or was skipped, 2 when the build failed. Fits ~8 minutes on a
# 16-core machine (the build ~1-2 min, test_device < 2 min, bench < 4 min).
#
#   bash bench/gpu-check.sh                # from the repository root
#   OUT=/tmp/logs BENCH_GPU_ARGS='--images 16384' bash bench/gpu-check.sh
#
# The GPU machine has no apt and no network: when .gpu-debs/ is here (made
# by bench/gpu-prepare.sh on a Debian 12 machine, carried by the device
# run), its packages are unpacked into $DEPS_PREFIX (default /tmp/eddp-deps;
# dpkg -x, or ar + tar where dpkg is missing, never into /) and the build
# uses them (make DEPS_PREFIX=...); h5dump and, if missing, make come from
# there too. GPU_DEBS=0 ignores .gpu-debs/; EDDP_UNPACK=ar forces the ar +
# tar extraction, EDDP_UNPACK=python the Python one (for testing them).
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./gpu-logs}
mkdir -p "$OUT"
JOBS=${JOBS:-16}
status=0
say() { echo "gpu-check: $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

{ date; uname -a; nvidia-smi 2>&1; command -v nvcc || ls /usr/local/cuda/bin/nvcc; } > "$OUT/machine.txt" 2>&1
say "$(grep -m1 -E 'H200|H100|A100|NVIDIA' "$OUT/machine.txt" || echo 'nvidia-smi: no GPU listed')"

: > "$OUT/build.log"

# Carried Debian packages (.gpu-debs/): unpack them into a prefix.
# One .deb: an ar archive whose data.tar.{xz,zst,gz} holds the files.
unpack_method() {   # dpkg, else ar (binutils) + tar, else python3
    if [[ ${EDDP_UNPACK:-dpkg} == dpkg ]] && command -v dpkg-deb >/dev/null; then echo dpkg
    elif [[ ${EDDP_UNPACK:-ar} != python ]] && command -v ar >/dev/null; then echo ar
    else echo python; fi
}
unpack_deb() {   # DEB DIR
    local deb=$1 dir=$2 method tmp data
    method=$(unpack_method)
    if [[ $method == dpkg ]]; then
        dpkg-deb -x "$deb" "$dir"; return
    fi
    tmp=$(mktemp -d) && deb=$(realpath "$deb") || return 1
    if [[ $method == ar ]]; then
        (cd "$tmp" && ar x "$deb") || { rm -rf "$tmp"; return 1; }
    else   # no binutils either: Python reads the ar format
        python3 - "$deb" "$tmp" <<'PY' || { rm -rf "$tmp"; return 1; }
import os, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", "not an ar archive"
pos = 8
while pos + 60 <= len(data):
    name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
    open(os.path.join(sys.argv[2], os.path.basename(name)), "wb").write(data[pos + 60:pos + 60 + size])
    pos += 60 + size + (size & 1)
PY
    fi
    data=$(ls "$tmp"/data.tar* 2>/dev/null | head -1)
    if [[ -z $data ]]; then
        rm -rf "$tmp"; echo "unpack: no data.tar in $deb" >&2; return 1
    fi
    case $data in
        *.zst) zstd -dc "$data" | tar -x -C "$dir" ;;
        *)     if [[ $method == ar ]] && tar -xf "$data" -C "$dir"; then :; else
                   python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
kw = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
t.extractall(sys.argv[2], **kw)' "$data" "$dir"
               fi ;;
    esac
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

MAKE_CMD=(make)
if [[ ${GPU_DEBS:-1} != 0 ]] && compgen -G ".gpu-debs/*.deb" >/dev/null; then
    P=${DEPS_PREFIX:-/tmp/eddp-deps}
    [[ $P == /* && $P != / ]] || { say "DEPS_PREFIX must be an absolute folder other than /"; exit 2; }
    t0=$SECONDS
    rm -rf "$P" && mkdir -p "$P"
    how=$(unpack_method)
    for deb in .gpu-debs/*.deb; do
        if ! unpack_deb "$deb" "$P" >> "$OUT/build.log" 2>&1; then
            say "unpacking $deb into $P FAILED ($how; see $OUT/build.log)"; exit 2
        fi
    done
    # Links to absolute paths point outside the prefix: re-point them into
    # it (an /etc/alternatives link: to the file of that name under OpenBLAS).
    while IFS= read -r link; do
        target=$(readlink "$link")
        if [[ $target == /etc/alternatives/* ]]; then
            real=$(find "$P/usr/lib/x86_64-linux-gnu/openblas-openmp" -name "$(basename "$link")" 2>/dev/null | head -1)
        else
            real=$P$target
        fi
        [[ -e $real ]] && ln -sfn "$real" "$link"
    done < <(find "$P" -type l -lname '/*')
    LIBDIRS=$P/usr/lib/x86_64-linux-gnu/openblas-openmp:$P/usr/lib/x86_64-linux-gnu/hdf5/serial:$P/usr/lib/x86_64-linux-gnu:$P/lib/x86_64-linux-gnu
    # h5dump has no RPATH: a wrapper gives it the prefix's libraries (and
    # only it: gcc and nvcc keep the system's).
    mkdir -p "$P/wrap"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
        "$LIBDIRS" "$P/usr/bin/h5dump" > "$P/wrap/h5dump"
    chmod +x "$P/wrap/h5dump"
    export PATH=$P/wrap:$PATH
    command -v make >/dev/null || MAKE_CMD=("$P/usr/bin/make")
    MAKE_CMD+=(DEPS_PREFIX="$P")
    need=$(sed -n 's/^glibc_needed=//p' .gpu-debs/MANIFEST 2>/dev/null)
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
    say "deps: $(ls .gpu-debs/*.deb | wc -l) carried packages unpacked into $P ($how, $((SECONDS - t0)) s); glibc here ${have:-unknown}, they need >= ${need:-?}"
    if [[ -n $need && -n $have ]] && [[ $(printf '%s\n' "$need" "$have" | sort -V | head -1) != "$need" ]]; then
        say "deps: glibc $have here is older than the $need the carried Debian 12 libraries need: they will not load"
    fi
fi

# Build: 'make deps' installs missing Debian packages when root (apt-get),
# or, with the carried packages, checks the prefix's headers; then libcore
# with the CUDA objects, the tools, the suite and the benchmark.
t0=$SECONDS
if ! { "${MAKE_CMD[@]}" deps && "${MAKE_CMD[@]}" -j"$JOBS" all build/tests/test_device build/bench/bench_gpu; } >> "$OUT/build.log" 2>&1; then
    say "build FAILED (see $OUT/build.log):"
    tail -40 "$OUT/build.log"
    exit 2
fi
say "build: $((SECONDS - t0)) s; $(grep -m1 '^backend:' "$OUT/build.log")"

# Do the libraries load? (With carried ones, a glibc older than Debian 12's
# fails here, not in the middle of a test.)
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?')
for b in bin/uibe build/tests/test_device; do
    if command -v ldd >/dev/null; then
        err=$(ldd "$b" 2>&1 | grep -E 'not found|No such file|error' | head -3 | tr -s ' \t\n' ' ')
    else
        err=$("$b" --help 2>&1 >/dev/null | grep -m1 'error while loading shared libraries')
    fi
    if [[ -n $err ]]; then
        say "libraries FAIL to load for $b ($glibc): $err"
        exit 2
    fi
done
# h5dump is needed by step 2 only: a warning, not a stop.
if ! err=$(h5dump --version 2>&1 >/dev/null) || [[ -n $err ]]; then
    say "h5dump does not run ($glibc): $(head -c 300 <<< "${err:-not found}" | tr -s '\n' ' ')"
fi

# 1. CPU and CUDA backends on identical batches, a short training run.
t0=$SECONDS
timeout 300 build/tests/test_device > "$OUT/test_device.log" 2>&1
rc=$?
cat "$OUT/test_device.log"
if (( rc != 0 )) || grep -q 'skipped' "$OUT/test_device.log"; then
    say "test_device FAILED or skipped (exit $rc, $((SECONDS - t0)) s)"
    status=1
else
    say "test_device: $(tail -1 "$OUT/test_device.log") ($((SECONDS - t0)) s)"
fi

# 2. The tools with --device cuda: steps a, c, d on a small synthetic set;
# the output's provenance names the device.
t0=$SECONDS
T=$(mktemp -d)
(
    set -e
    bin/synthgen --seed 1 --per-class 200 -o "$T/f.h5"
    bin/trainhead --seed 1 --epochs 50 "$T/f.h5" -o "$T/h.h5"
    bin/uibe --device cuda --quiet --seed 1 --detectors 3 --epochs 20 --batch 64 --lr 1e-3 "$T/f.h5" "$T/h.h5" -o "$T/a.h5"
    bin/eddp --step c "$T/a.h5" "$T/f.h5" -o "$T/c.h5"
    bin/eddp --device cuda --quiet --step d --seed 1 --epochs 20 --batch 64 --lr 1e-3 "$T/c.h5" "$T/f.h5" "$T/h.h5" -o "$T/d.h5"
    bin/uibe --device cpu --quiet --seed 1 --detectors 3 --epochs 20 --batch 64 --lr 1e-3 "$T/f.h5" "$T/h.h5" -o "$T/a-cpu.h5"
    h5dump -a /device "$T/a.h5"
    h5dump -a /device "$T/d.h5"
    h5dump -a /device "$T/a-cpu.h5"
    h5dump -d /W "$T/a.h5"
    h5dump -d /W "$T/a-cpu.h5"
) > "$OUT/tools.log" 2>&1
rc=$?
if (( rc != 0 )) || ! grep -q '"cuda:' "$OUT/tools.log"; then
    say "tools with --device cuda FAILED (exit $rc; see $OUT/tools.log)"
    tail -20 "$OUT/tools.log"
    status=1
else
    say "tools with --device cuda: uibe, eddp c/d ok, provenance $(grep -m1 -o '"cuda:[^"]*"' "$OUT/tools.log") ($((SECONDS - t0)) s)"
fi
rm -rf "$T"

# 3. The benchmark (a figure, never pass/fail).
t0=$SECONDS
timeout 360 build/bench/bench_gpu ${BENCH_GPU_ARGS:-} > "$OUT/bench_gpu.log" 2>&1
rc=$?
cat "$OUT/bench_gpu.log"
if (( rc != 0 )); then
    say "bench_gpu FAILED or timed out (exit $rc, $((SECONDS - t0)) s)"
    status=1
else
    say "bench_gpu: $(grep -m1 'projected' "$OUT/bench_gpu.log" | sed 's/^ *//') ($((SECONDS - t0)) s)"
fi
say "exit $status"
exit $status
