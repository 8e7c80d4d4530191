# test-device.sh — the CUDA backend is a plugin loaded on demand: no tool
# or test binary lists a CUDA library in its dynamic section, and
# --device cuda without a driver, without the plugin, or with a library the
# plugin needs missing exits 69 with one line naming what is missing, while
# --device auto trains on the CPU. Runs on machines with and without CUDA
# (EDDP_CUDA_DRIVER stands for the driver, EDDP_CUDA_PLUGIN for the plugin).
source tests/tools/lib.sh

CUDA_LIBS='lib(cuda|cudart|cublas|cublasLt|cusolver|cusparse|nvJitLink|nvrtc)\.so'
PLUGIN=build/lib/eddp-cuda.so

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

linked=
for b in bin/* build/tests/* build/bench/*; do
    [ -f "$b" ] && [ -x "$b" ] || continue
    needed "$b" | grep -Eq "^$CUDA_LIBS" && linked+=" $b"
done
if [ -z "$linked" ]; then pass "no tool, unit test or benchmark lists a CUDA library (readelf -d)"
else fail "binaries linking CUDA libraries:$linked"; fi
if [ -f "$PLUGIN" ]; then
    check "the plugin itself lists libcudart (the check above can fail)" bash -c "
        readelf -d $PLUGIN | grep -q 'NEEDED.*libcudart'"
    check "the plugin exports one symbol, eddp_cuda_backend" bash -c "
        [ \"\$(nm -D --defined-only $PLUGIN | awk '\$2 ~ /^[TDBR]\$/ {print \$3}')\" = eddp_cuda_backend ]"
fi

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp
$SG --seed 3 --per-class 30 -o "$TMP/f.h5" && $TH --seed 3 --epochs 20 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }
A=(--threads 1 --seed 3 --detectors 3 --epochs 2 --batch 32)
NO_DRIVER=libeddp-no-such-driver.so.1

desc "uibe --device cuda without a driver: 69, one line"
EDDP_CUDA_DRIVER=$NO_DRIVER expect_fail 69 "^uibe: --device cuda: no CUDA device: no driver \($NO_DRIVER: cannot open" \
    $UIBE "${A[@]}" --device cuda "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5"
desc "eddp --device cuda:1 without a driver: 69, one line"
EDDP_CUDA_DRIVER=$NO_DRIVER expect_fail 69 "--device cuda:1: no CUDA device: no driver" \
    $EDDP --step d --device cuda:1 --epochs 2 "$TMP/f.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d.h5"
desc "uibe --device cuda without the plugin: 69, one line naming it"
EDDP_CUDA_DRIVER=libc.so.6 EDDP_CUDA_PLUGIN=$TMP/none.so expect_fail 69 \
    "--device cuda: no CUDA backend: .*none\.so \(\\\$EDDP_CUDA_PLUGIN\) not found" \
    $UIBE "${A[@]}" --device cuda "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5"

# A plugin that needs a library this machine lacks (as the real one on a
# node without the CUDA libraries): dlopen's reason names the library.
echo 'int absent_fn(void) { return 0; }' > "$TMP/lib.c"
echo 'int absent_fn(void); int eddp_cuda_backend(void) { return absent_fn(); }' > "$TMP/stub.c"
if gcc -shared -fPIC -o "$TMP/libcublas-absent.so.99" "$TMP/lib.c" -Wl,-soname,libcublas-absent.so.99 &&
   gcc -shared -fPIC -o "$TMP/plugin.so" "$TMP/stub.c" -Wl,--no-as-needed "$TMP/libcublas-absent.so.99" &&
   rm "$TMP/libcublas-absent.so.99"; then
    desc "uibe --device cuda with a library of the plugin missing: 69, naming the library"
    EDDP_CUDA_DRIVER=libc.so.6 EDDP_CUDA_PLUGIN=$TMP/plugin.so expect_fail 69 \
        "--device cuda: no CUDA backend: libcublas-absent\.so\.99: cannot open shared object file" \
        $UIBE "${A[@]}" --device cuda "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5"
    desc "uibe --device auto with the plugin unloadable: trains on the CPU"
    EDDP_CUDA_DRIVER=libc.so.6 EDDP_CUDA_PLUGIN=$TMP/plugin.so expect_ok \
        $UIBE "${A[@]}" --quiet --device auto "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/auto1.h5"
else
    fail "building the stub plugin"
fi

desc "uibe --device auto without a driver: trains on the CPU"
EDDP_CUDA_DRIVER=$NO_DRIVER expect_ok $UIBE "${A[@]}" --quiet --device auto "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/auto.h5"
check "... and records device cpu" py <<'EOF'
import h5py, sys
with h5py.File(sys.argv[1] + "/auto.h5") as f:
    d = f.attrs["device"]
    d = d.decode() if isinstance(d, bytes) else str(d)
    assert d == "cpu", d
EOF

# The real plugin where the driver library loads but no GPU answers (a
# stand-in driver): the runtime's reason, 69; auto falls back to the CPU.
if [ -f "$PLUGIN" ] && ! /sbin/ldconfig -p | grep -q 'libcuda\.so\.1 '; then
    desc "uibe --device cuda, the plugin loaded, no GPU: 69, the runtime's reason"
    EDDP_CUDA_DRIVER=libc.so.6 expect_fail 69 "--device cuda: no CUDA device: " \
        $UIBE "${A[@]}" --device cuda "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5"
    desc "uibe --device auto, the plugin loaded, no GPU: trains on the CPU"
    EDDP_CUDA_DRIVER=libc.so.6 expect_ok $UIBE "${A[@]}" --quiet "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/auto2.h5"
fi
finish
