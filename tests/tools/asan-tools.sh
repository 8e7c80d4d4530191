# asan-tools.sh — the hostile-input tool suite (test-harden.sh) on the
# sanitizer build of the tools (build-asan/bin, ASan + UBSan, leaks checked).
export TOOLBIN=build-asan/bin
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/tools/lsan.supp:print_suppressions=0
exec bash tests/tools/test-harden.sh
