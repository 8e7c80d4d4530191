# test-watermark.sh — make watermark WATERMARK=quick (a short schedule of
# the real-network experiment, pipelines/watermark.mk): the backdoor works,
# the correction by the watermark detector's signal vector changes what the
# network predicts on poisoned images, and the report holds Tables 9 and 10.
# Needs Debian's dataset-fashion-mnist (the pipeline installs it as root;
# skipped with the reason otherwise). Run from the repository root.
source tests/tools/lib.sh

FM=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [[ ! -r $FM && $(id -u) != 0 ]]; then
    echo "test-watermark: skipped: dataset-fashion-mnist is not installed and this is not root"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi

desc "make watermark WATERMARK=quick"
check "make watermark WATERMARK=quick" make -s --no-print-directory watermark WATERMARK=quick WM_DIR="$TMP/wm"
check "the backdoor works, Table 9 and 10 in the report, a correction effect" py <<'EOF'
import sys
t = sys.argv[1] + "/wm"
def accuracy(name):
    return float(open(f"{t}/eval-{name}.txt").readline().split("\t")[1])
clean, poisoned = accuracy("feat-clean"), accuracy("feat-poisoned")
assert clean > 0.8, f"clean accuracy {clean}"
assert poisoned < 0.5, f"poisoned accuracy {poisoned}: the watermark should send most images to its class"
def confusion(name):
    rows = [line.split("\t") for line in open(f"{t}/eval-{name}.txt").read().split("\n")[2:] if line.strip()]
    return [[float(v) for v in r] for r in rows]
before, after = confusion("feat-poisoned"), confusion("corr-eq1-signal-poisoned")
moved = sum(abs(a - b) for ra, rb in zip(before, after) for a, b in zip(ra, rb))
assert moved > 0.05 * sum(map(sum, before)), "the correction should change the poisoned predictions"
report = open(f"{t}/report.txt").read()
for needle in ("Table 9", "Table 10", "random vectors", "watermark detector", "Influence"):
    assert needle in report, needle
EOF
for f in confusion.png firing.png examples.png; do
    check "$f is a PNG" bash -c "head -c 8 '$TMP/wm/$f' | od -An -tx1 | grep -q '89 50 4e 47'"
done
finish
