#!/usr/bin/env bash
# gpu-prepare.sh — run HERE (Debian 12, apt reaches its archive) before a
# device session. The GPU machine starts bare and reaches no network, so no
# apt-get there: this downloads into .gpu-debs/ (ignored by git) the Debian
# packages that build and run the project without system packages, and the
# device run carries that folder (carry [".gpu-debs"]); bench/gpu-check.sh
# unpacks them into /tmp/eddp-deps and builds with DEPS_PREFIX=/tmp/eddp-deps.
#
# The list is resolved, not guessed: the development packages (headers, link
# symlinks) and the tools named below, plus the package of every library
# that `ldd` finds for our binaries and for h5dump here, minus what any
# machine that compiles C (and runs CUDA's nvcc) has: glibc, libstdc++,
# libgcc_s, zlib, and libgomp (the compiler's own OpenMP runtime: an older
# carried one would shadow the one the GPU machine's gcc compiled against).
#
#   bash bench/gpu-prepare.sh            # from the repository root, as root
#   JOBS=2 bash bench/gpu-prepare.sh     # build parallelism (default 2)
set -eu -o pipefail
cd "$(dirname "$0")/.."
DEST=.gpu-debs
JOBS=${JOBS:-2}

# Headers and link-time files, h5dump, and make (a fallback: the GPU image
# is expected to have make, but it costs 0.4 MiB to be sure).
SEED_PACKAGES="libhdf5-dev hdf5-tools libopenblas-openmp-dev liblapacke-dev zlib1g-dev make"
EXCLUDE_PACKAGES="libc6 libstdc++6 libgcc-s1 zlib1g libgomp1"

command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
    { echo "gpu-prepare: needs a Debian machine (dpkg, apt-get)" >&2; exit 1; }

# Our binaries, built against the system packages (installed by 'make deps').
echo "gpu-prepare: building (make deps; make -j$JOBS all build/tests/test_device)"
make deps >/dev/null
make -j"$JOBS" all build/tests/test_device >/dev/null
H5DUMP=$(command -v h5dump)
BINARIES="$(ls bin/*) build/tests/test_device $H5DUMP"

# The package that owns a library path; merged /usr makes dpkg know some
# files by their /lib name and others by their /usr/lib name.
owner_of() {
    local f=$1 real alt
    real=$(readlink -f "$f")
    for alt in "$f" "$real" "${real#/usr}" "/usr${real}" "${f#/usr}" "/usr${f}"; do
        dpkg-query -S "$alt" 2>/dev/null | head -1 | cut -d: -f1 && return 0
    done
    return 1
}

declare -A why=() first_user=()
for p in $SEED_PACKAGES; do why[$p]="named (headers, link files, tools)"; done
for b in $BINARIES; do
    ldd_out=$(ldd "$b")
    if grep -q 'not found' <<< "$ldd_out"; then
        echo "gpu-prepare: $b has unresolved libraries:" >&2; grep 'not found' <<< "$ldd_out" >&2; exit 1
    fi
    for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<< "$ldd_out"); do
        case $lib in /usr/local/*|/opt/*) continue ;; esac     # CUDA's own
        [[ -n ${first_user[$lib]:-} ]] || first_user[$lib]=$(basename "$b")
    done
done
for lib in "${!first_user[@]}"; do
    pkg=$(owner_of "$lib") || { echo "gpu-prepare: no package owns $lib (ldd ${first_user[$lib]})" >&2; exit 1; }
    [[ -n ${why[$pkg]:-} ]] || why[$pkg]="ldd ${first_user[$lib]}: $(basename "$lib")"
done
for p in $EXCLUDE_PACKAGES; do unset "why[$p]"; done
PACKAGES=$(printf '%s\n' "${!why[@]}" | sort)

# Lists: update when apt knows no candidate for one of them.
policy=$(apt-cache policy $PACKAGES 2>/dev/null || true)
if [[ $(grep -c 'Candidate: [^(]' <<< "$policy") -lt $(wc -w <<< "$PACKAGES") ]]; then
    echo "gpu-prepare: apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gpu-debs.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP"              # apt's _apt user downloads into it
(cd "$TMP" && apt-get download -qq $PACKAGES 2>&1 | grep -v -e 'unsandboxed' -e '^$' || true)
for p in $PACKAGES; do
    ls "$TMP"/"${p}"_*.deb >/dev/null 2>&1 || { echo "gpu-prepare: download of $p failed" >&2; exit 1; }
done
rm -rf "$DEST"
mkdir -p "$DEST"
mv "$TMP"/*.deb "$DEST"/

# The newest glibc symbol version the carried libraries and programs ask
# for: gpu-check.sh compares it with the GPU machine's glibc before it builds.
mkdir -p "$TMP/x"
for d in "$DEST"/*.deb; do dpkg-deb -x "$d" "$TMP/x"; done
GLIBC_NEEDED=$(find "$TMP/x" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0 |
    { xargs -0 objdump -T 2>/dev/null || true; } | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)

{
    echo "# gpu-prepare.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release; echo "$PRETTY_NAME") ($(uname -m))"
    echo "glibc_needed=$GLIBC_NEEDED"
    for p in $PACKAGES; do echo "package=$p $(basename "$DEST"/"${p}"_*.deb) # ${why[$p]}"; done
} > "$DEST/MANIFEST"

printf '%-26s %8s  %s\n' package KiB why
for p in $PACKAGES; do
    printf '%-26s %8d  %s\n' "$p" $(( $(stat -c %s "$DEST"/"${p}"_*.deb) / 1024 )) "${why[$p]}"
done
total=$(du -cb "$DEST"/*.deb | tail -1 | cut -f1)
echo "gpu-prepare: $(ls "$DEST"/*.deb | wc -l) packages, $(( total / 1024 / 1024 )).$(( total * 10 / 1024 / 1024 % 10 )) MiB in $DEST/ (carry limit 64 MiB with the tree); needs glibc >= $GLIBC_NEEDED"
echo "gpu-prepare: next, the device run: bash bench/gpu-check.sh, with carry [\".gpu-debs\"]"
