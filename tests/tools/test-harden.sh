# test-harden.sh — issue 10: hostile inputs (items 1-8). Each block names its item.
# TOOLBIN=build-asan/bin runs the same checks on the sanitizer build.
source tests/tools/lib.sh

B=${TOOLBIN:-bin}
SG=$B/synthgen TH=$B/trainhead FD=$B/featdump PC=$B/pcav CG=$B/cachegpu UI=$B/uibe ED=$B/eddp SAE=$B/sae
O="$TMP/out"
mkdir -p "$O"

$SG --seed 5 --per-class 40 -o "$TMP/train.h5" && $TH --seed 5 --epochs 20 "$TMP/train.h5" -o "$TMP/head.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }

check "make the hostile files" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
def features(name):
    f = h5py.File(f"{t}/{name}.h5", "w")
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    return f
# 2^24 channels, chunked, never written (~10 KB)
with features("c24") as f:
    f.create_dataset("features", (100, 2**24, 1, 1), np.float32, chunks=(1, 2**16, 1, 1))
    f["labels"] = np.arange(100, dtype=np.int32) % 2
# 2^24 channels, every chunk written (compressed zeros and ones: small file)
with features("c24w") as f:
    d = f.create_dataset("features", (2, 2**24, 1, 1), np.float32, chunks=(1, 2**20, 1, 1),
                         compression="gzip", compression_opts=1)
    z = np.zeros((1, 2**24, 1, 1), np.float32)
    d[0:1] = z; d[1:2] = z + 1
    f["labels"] = np.array([0, 1], np.int32)
# 2^31 images declared, nothing written
with features("n31") as f:
    f.create_dataset("features", (2**31, 16, 1, 2), np.float32, chunks=(1024, 16, 1, 2))
    f.create_dataset("labels", (2**31,), np.int32, chunks=(4096,))
# the train set, /features contiguous but never written
src = h5py.File(t + "/train.h5", "r")
x, y = src["features"][:], src["labels"][:]
with features("contig") as f:
    f.create_dataset("features", x.shape, np.float32)
    f["labels"] = y
# only the first of its chunks written
with features("part") as f:
    d = f.create_dataset("features", x.shape, np.float32, chunks=(7,) + x.shape[1:])
    d[:7] = x[:7]
    f["labels"] = y
# legitimate: compressed chunks, the last one partial (120 = 17*7 + 1)
with features("gz") as f:
    f.create_dataset("features", data=x, chunks=(7,) + x.shape[1:], compression="gzip")
    f["labels"] = y
    f["class_names"] = src["class_names"][:]
# constant features with concept maps (pcav)
with features("const") as f:
    f["features"] = np.ones(x.shape, np.float32)
    f["labels"] = y
    f["concepts/concept"] = src["concepts/concept"][:]
    f["concepts/concept"].attrs["names"] = src["concepts/concept"].attrs["names"]
# heads: 16 channels (against 2^24), one class
for name, k, c in [("head16", 2, 16), ("head1", 1, 16)]:
    with h5py.File(f"{t}/{name}.h5", "w") as f:
        f.attrs["format"] = "eddp-head"; f.attrs["format_version"] = 1
        f["weight"] = np.ones((k, c)); f["bias"] = np.zeros(k)
EOF

# ------------------------------------------------- 1: allocations sized by a file
# 2^24 channels fully written: 2 pooled images need 256 MB; under a 600 MB
# address-space limit the allocation fails and must be reported (71).
if [[ $B == bin ]]; then
    desc "1: trainhead, 2^24 written channels, out of memory: 71 and no temporary"
    expect_fail 71 "c24w\.h5: out of memory" bash -c 'ulimit -v 600000; exec "$@"' _ $TH --epochs 2 "$TMP/c24w.h5" -o "$O/h.h5"
else
    echo "1: ulimit -v: skipped: the sanitizer build reserves more address space than any limit allows"
fi
for tool in "$TH" "$PC" "$CG" "$SAE"; do
    desc "1/3: $(basename $tool) on 2^24 never-written channels: one line, 65"
    expect_fail 65 "c24\.h5: dataset '/features' declares shape \[100,16777216,1,1\] but its data were never written" \
        $tool "$TMP/c24.h5" -o "$O/x.h5"
done
desc "1/3: uibe on 2^24 never-written channels"
expect_fail 65 "c24\.h5.*never written" $UI --detectors 2 --epochs 1 "$TMP/c24.h5" "$TMP/head.h5" -o "$O/x.h5"

# ------------------------------------------------- 2: full disk
if [[ $(id -u) == 0 ]] && mkdir -p "$TMP/full" && mount -t tmpfs -o size=1m tmpfs "$TMP/full" 2>/dev/null; then
    desc "2: synthgen onto a full disk: 74, one line, temporary removed, no crash"
    expect_fail 74 "disk full" $SG --no-space-check --per-class 10000 -o "$TMP/full/x.h5"
    desc "2: the size estimate refuses it first (73)"
    expect_fail 73 "x\.h5: the output needs about .* free; use --no-space-check" $SG --per-class 10000 -o "$TMP/full/x.h5"
    desc "2: featdump --concat onto a full disk: 74"
    $SG --per-class 3000 -o "$TMP/big.h5"
    expect_fail 74 "disk full|cannot (write|finish)" $FD --concat "$TMP/big.h5" "$TMP/big.h5" -o "$TMP/full/y.h5"
    umount "$TMP/full"
else
    echo "2: full disk: skipped: needs root and mount(8) for a 1 MB tmpfs"
fi

# ------------------------------------------------- 3: files that lie about their size
for tool in "$TH" "$PC" "$CG"; do
    expect_fail 65 "n31\.h5: dataset '/features' declares shape \[2147483648,16,1,2\] but its data were never written" \
        timeout 60 $tool "$TMP/n31.h5" -o "$O/x.h5"
done
expect_fail 65 "n31\.h5.*never written" timeout 60 $FD --info "$TMP/n31.h5"
expect_fail 65 "n31\.h5.*never written" timeout 60 $FD --export /features "$TMP/n31.h5" -o "$O/x.npy"
expect_fail 65 "contig\.h5: dataset '/features' .* never written \(no storage allocated\)" $TH "$TMP/contig.h5" -o "$O/x.h5"
expect_fail 65 "part\.h5: dataset '/features' .* only 1 of its 18 chunks were ever written" $TH "$TMP/part.h5" -o "$O/x.h5"
desc "3: compressed chunks with a partial last chunk are accepted"
expect_ok $TH --epochs 5 "$TMP/gz.h5" -o "$O/gz-head.h5"

# ------------------------------------------------- 4: the output is an input
cp "$TMP/train.h5" "$TMP/in.h5"
ln -s in.h5 "$TMP/link.h5"
expect_fail 64 "in\.h5: the output is also an input" $TH --overwrite "$TMP/in.h5" -o "$TMP/in.h5"
expect_fail 64 "in\.h5: the output is the same file as the input '.*link\.h5'" $TH --overwrite "$TMP/link.h5" -o "$TMP/in.h5"
expect_fail 64 "in\.h5: the output is also an input" $FD --concat "$TMP/in.h5" "$TMP/in.h5" --overwrite -o "$TMP/in.h5"
expect_fail 64 "in\.h5: the output is also an input" $ED --step c --overwrite "$TMP/in.h5" "$TMP/train.h5" -o "$TMP/in.h5"
check "4: the input is intact" cmp "$TMP/in.h5" "$TMP/train.h5"
desc "4: -o through a symlink replaces the link, not the input: allowed"
expect_ok $TH --epochs 2 --overwrite "$TMP/in.h5" -o "$TMP/link.h5"
check "4: ... and the input is intact" cmp "$TMP/in.h5" "$TMP/train.h5"

# ------------------------------------------------- 5: racing writers
# A writer holding its temporary and its lock, stopped by the test hook
# EDDP_TEST_STOP_AFTER_CREATE right after creating them (no timing involved).
py <<'EOF'
import numpy as np, sys
np.save(sys.argv[1] + "/slow.npy", np.ones((30, 4, 2, 2), np.float32))
EOF
start_slow() {   # start_slow OUT: a featdump writing OUT, stopped once its temporary exists
    EDDP_TEST_STOP_AFTER_CREATE=1 $FD --features "$TMP/slow.npy" -o "$1" 2>"$TMP/slow.err" &
    slow=$!
    for _ in $(seq 600); do
        [[ $(awk '{print $3}' "/proc/$slow/stat" 2>/dev/null) == T ]] && break
        sleep 0.05
    done
}
start_slow "$O/race.h5"
desc "5: a second writer of the same output exits 73 naming the first one's temporary"
expect_fail 73 "race\.h5: another run \(PID $slow\) is writing this output, temporary '.*/\.race\.h5\.$slow\.tmp'" \
    $SG --per-class 10 -o "$O/race.h5"
desc "5: ... with --overwrite too"
expect_fail 73 "another run \(PID $slow\)" $SG --per-class 10 --overwrite -o "$O/race.h5"
desc "5: a second training run with the same -o exits 73 and makes no checkpoint"
expect_fail 73 "another run \(PID $slow\)" $UI --detectors 2 --epochs 2 --checkpoint-every 1 --resume "$TMP/train.h5" "$TMP/head.h5" -o "$O/race.h5"
check "5: no checkpoint appeared" test ! -e "$O/race.h5.ckpt"
# A file that appears under the name while the writer works is not replaced.
echo "someone else's" >"$O/race.h5"
kill -CONT $slow
wait "$slow"
rc=$?
check "5: the first writer exits 73 instead of replacing the file that appeared" \
    bash -c "[[ $rc == 73 ]] && grep -q 'appeared while this run wrote it' '$TMP/slow.err' &&
             [[ \$(cat '$O/race.h5') == \"someone else's\" ]] && [[ -z \$(ls -A '$O' | grep '\.tmp\$') ]]"
rm -f "$O/race.h5"

# ------------------------------------------------- 6: stale temporaries
dead=4000000
while kill -0 $dead 2>/dev/null; do dead=$((dead + 1)); done
echo stale >"$O/.stale.h5.$dead.tmp"
echo alive >"$O/.stale.h5.$$.tmp"      # a live PID without a lock: not ours to remove
echo other >"$O/.other.h5.$dead.tmp"   # another output's
$SG --per-class 10 -o "$O/stale.h5"
check "6: a completing run removes the temporaries of its output whose PID is gone" \
    bash -c "[[ -e '$O/stale.h5' && ! -e '$O/.stale.h5.$dead.tmp' && -e '$O/.stale.h5.$$.tmp' && -e '$O/.other.h5.$dead.tmp' ]]"
rm -f "$O/.stale.h5.$$.tmp" "$O/.other.h5.$dead.tmp" "$O/stale.h5"

# ------------------------------------------------- 7: messages
expect_fail 65 "const\.h5: concept '.*' \(label 1 of '/concepts/concept'\) has a zero Pattern-CAV" \
    $PC "$TMP/const.h5" -o "$O/x.h5"
expect_fail 65 "head16\.h5: head '/weight' has C=16 channels but .*c24w\.h5 has C=16777216" \
    $TH --eval "$TMP/head16.h5" "$TMP/c24w.h5"
expect_fail 65 "head1\.h5: head '/weight' has 1 class, a head needs at least 2" $TH --eval "$TMP/head1.h5" "$TMP/train.h5"
desc "7: synthgen --table BINARY does not echo the binary"
expect_fail 65 "synthgen: line 1 is not text \(a binary file\?\)" $SG --table "$SG" -o "$O/x.h5"
expect_fail 64 "-o: the output path is empty" $SG -o ''
for tool in "$SG" "$TH" "$UI" "$ED" "$FD"; do
    expect_fail 64 "unknown option '--bogus'" $tool --bogus -o "$O/x.h5"
done
expect_fail 64 "option '-o' needs a value" $TH "$TMP/train.h5" -o

# ------------------------------------------------- 8: accepted nonsense
F="$TMP/train.h5" H="$TMP/head.h5"
expect_fail 64 "--epochs: expected an integer in \[1, " $UI --detectors 2 --epochs 0 "$F" "$H" -o "$O/x.h5"
expect_fail 64 "--losses: no loss terms given" $UI --detectors 2 --losses '' "$F" "$H" -o "$O/x.h5"
expect_fail 64 "--losses: 's' is listed twice" $UI --detectors 2 --losses s,ma,s "$F" "$H" -o "$O/x.h5"
expect_fail 64 "--bound ic=-1: L\^ic is never negative" $UI --detectors 2 --objective constrained --bound ic=-1 "$F" "$H" -o "$O/x.h5"
expect_fail 64 "--epochs: step c does not train" $ED --step c --epochs 3 "$TMP/gz-head.h5" "$F" -o "$O/x.h5"
expect_fail 65 "head1\.h5: head '/weight' has 1 class" $UI --detectors 2 --epochs 1 "$F" "$TMP/head1.h5" -o "$O/x.h5"
expect_fail 64 "per-class: expected an integer" $SG --per-class 10000000000000 -o "$O/x.h5"
expect_fail 73 "x\.h5: the output needs about .* GB .* free; use --no-space-check" $SG --per-class 1000000000000 -o "$O/x.h5"
mkfifo "$TMP/fifo.h5" "$TMP/fifo.npy"
expect_fail 66 "fifo\.h5: is a FIFO, expected a regular file" timeout 20 $TH "$TMP/fifo.h5" -o "$O/x.h5"
expect_fail 66 "fifo\.npy: is a FIFO, expected a regular \.npy file" timeout 20 $FD --features "$TMP/fifo.npy" -o "$O/x.h5"
expect_fail 66 "is a character device" timeout 20 $PC /dev/zero -o "$O/x.h5"
desc "8: '-' still reads stdin"
expect_ok bash -c "$TH --epochs 2 - -o '$O/stdin-head.h5' < '$F'"

finish
