#!/usr/bin/env bash
# run.sh SECONDS TARGET... — `make fuzz` (FUZZ_TIME=0: triage only): seeds a corpus per target from
# files the tools and the tests make, runs each libFuzzer target SECONDS
# seconds, and prints its executions and coverage. Crashes are kept under
# build-fuzz/crashes/<target>/ with the stack's top frames; one in our code
# fails the run (exit 1), one inside libhdf5 is listed (not ours to fix).
set -u
seconds=$1; shift
root=build-fuzz
seeds=$root/seeds
mkdir -p "$seeds/npy" "$seeds/h5"
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzzseed.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- seeds: small files of every contract, valid and broken, as the tests make them
bin/synthgen --per-class 3 -o "$work/features.h5" 2>/dev/null
bin/trainhead --epochs 3 "$work/features.h5" -o "$work/head.h5" 2>/dev/null
bin/cachegpu "$work/features.h5" -o "$work/cache.h5" 2>/dev/null
bin/pcav "$work/features.h5" -o "$work/pcav.h5" 2>/dev/null
bin/featdump --export /features "$work/features.h5" -o "$work/features.npy" 2>/dev/null
bin/featdump --export /labels "$work/features.h5" -o "$work/labels.npy" 2>/dev/null
/usr/bin/python3 - "$work" <<'PY'
import numpy as np, sys
t = sys.argv[1]
np.save(f"{t}/f8.npy", np.arange(24, dtype=np.float64).reshape(2, 3, 2, 2))
np.save(f"{t}/f2.npy", np.arange(16, dtype=np.float16).reshape(4, 4))
np.save(f"{t}/u1.npy", np.arange(10, dtype=np.uint8))
np.save(f"{t}/b.npy", np.array([True, False]))
np.save(f"{t}/scalar.npy", np.float32(3))
np.save(f"{t}/big-endian.npy", np.arange(6, dtype=">f4"))
np.save(f"{t}/fortran.npy", np.asfortranarray(np.ones((2, 3), np.float32)))
with open(f"{t}/v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.ones((2, 2), np.float32), version=(2, 0))
PY
cp "$work"/*.npy "$seeds/npy/" 2>/dev/null
cp "$work"/*.h5 "$seeds/h5/" 2>/dev/null

status=0
for target in "$@"; do
    name=$(basename "$target")
    kind=${name#fuzz_}
    corpus=$root/corpus/$name crashes=$root/crashes/$name
    mkdir -p "$corpus" "$crashes"
    log=$root/$name.log
    # -fork keeps fuzzing past a crash (libhdf5 has its own); each is saved.
    # SECONDS = 0: no fuzzing, only the triage of the saved crashes.
    ((seconds > 0)) && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        "$target" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -rss_limit_mb=2048 \
        -timeout=5 -max_total_time="$seconds" -artifact_prefix="$crashes/" "$corpus" "$seeds/$kind" >"$log" 2>&1
    stats=$(grep -E '^#[0-9]+: cov: ' "$log" | tail -1)
    echo "$name: ${stats:-no statistics (see $log)}"
    for crash in "$crashes"/crash-* "$crashes"/leak-*; do
        [[ -e $crash ]] || continue
        # The first frame past the sanitizer's own (interceptors, malloc) decides.
        frames=$(ASAN_OPTIONS=detect_leaks=1 "$target" "$crash" 2>&1 | grep -E '^ +#[0-9]+ ' |
                 grep -vE ' in (__interceptor_[a-z_0-9]*|__asan_[a-z_0-9]*|__(mem|str)[a-z_0-9]*|malloc|calloc|realloc|free|strn?dup)( |$)' |
                 head -8)
        if [[ -z $frames ]]; then
            echo "  $crash: no longer fails (fixed)"
        elif grep -q 'libhdf5' <<<"$(head -1 <<<"$frames")"; then
            echo "  $crash: inside libhdf5 (not ours): $(head -1 <<<"$frames" | sed 's/^ *//')"
        else
            echo "  $crash: IN OUR CODE:"; sed 's/^/    /' <<<"$frames"; status=1
        fi
    done
done
exit $status
