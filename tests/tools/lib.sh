# tests/tools/lib.sh — helpers for the tool tests (bash), in the spirit of
# netpbm's *.test scripts: run a tool, check its exit code, its one-line
# error message and that a failed run leaves no file behind.
#
# Source it from a test script run at the repository root:
#
#     source tests/tools/lib.sh
#     desc "import writes /features"          # optional label for the next check
#     expect_ok bin/featdump --features "$TMP/f.npy" -o "$TMP/f.h5"
#     expect_fail 65 'f\.npy.*--features' bin/featdump --features "$TMP/f.npy" -o "$TMP/g.h5"
#     check "values round-trip" py <<'EOF'      # any command that must exit 0
#     ...python...
#     EOF
#     finish                                  # prints "N passed, N failed"
#
# What each helper checks:
#   expect_ok CMD...            CMD exits 0; if it names an output (-o F, --output F,
#                               --output=F, F not "-"), F exists afterwards and no
#                               other new file (e.g. a temporary) appeared beside it.
#   expect_fail CODE PATTERN CMD...
#                               CMD exits with CODE; its stderr is exactly one line
#                               and matches the extended regex PATTERN (grep -E);
#                               the output F is left as it was (absent stays absent,
#                               an existing file is unchanged) and no new file
#                               appeared in F's folder; with -o - stdout is empty.
#   check DESC CMD...           CMD exits 0 (e.g. a python comparison); its output
#                               is shown when it fails.
#   pass DESC / fail DESC [WHY] record a result of a custom check.
#   finish                      prints the closing "N passed, N failed" line (read
#                               by tests/run-suites) and exits 1 if anything failed.
#
# Environment the helpers set up:
#   $TMP   a fresh temporary folder for the test's files, removed at exit.
#   py     runs /usr/bin/python3 on the script given on stdin, with $TMP as
#          sys.argv[1] and further arguments after it (numpy and h5py installed).
#   stdin  is /dev/null, so a tool that waits on stdin by mistake gets EOF
#          instead of hanging; give a command stdin explicitly (< file, or a
#          function holding a pipe) where it needs it.
#   pipefail is on, so a pipe inside a function fails when any stage fails.
#
# Set VERBOSE=1 to print passing checks too (and the message of each expected
# failure, to read them over).

set -o pipefail
exec </dev/null

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tooltest.XXXXXX")
_LIB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/toolwork.XXXXXX")
trap 'rm -rf "$TMP" "$_LIB_WORK"' EXIT
_PASSED=0
_FAILED=0
_DESC=

py() { /usr/bin/python3 - "$TMP" "$@"; }

# A label for the next check (else the command line is shown).
desc() { _DESC=$*; }

# Sets _LABEL for the check about to run (not in a subshell: desc is used once).
_take_label() {
    if [[ -n $_DESC ]]; then _LABEL=$_DESC; else _LABEL="$*"; fi
    _LABEL=${_LABEL//$TMP/\$TMP}
    _DESC=
}

pass() {
    _PASSED=$((_PASSED + 1))
    [[ -n ${VERBOSE:-} ]] && echo "ok - $1"
    return 0
}

fail() {
    _FAILED=$((_FAILED + 1))
    echo "FAIL - $1"
    [[ -n ${2:-} ]] && sed 's/^/    /' <<<"$2"
    return 0
}

# The output a command names with -o/--output, or nothing.
_output_of() {
    local prev=
    for arg in "$@"; do
        case $prev in -o | --output) printf '%s' "$arg"; return ;; esac
        case $arg in --output=*) printf '%s' "${arg#--output=}"; return ;; esac
        prev=$arg
    done
}

# Listing of a folder (or a marker when it does not exist).
_listing() { if [[ -d $1 ]]; then ls -A "$1"; else echo "(no folder $1)"; fi; }

_fingerprint() { if [[ -e $1 ]]; then cksum <"$1"; else echo absent; fi; }

expect_ok() {
    local label out dir before="" rc why=""
    _take_label "$@"
    label=$_LABEL
    out=$(_output_of "$@")
    [[ -n $out && $out != - ]] && dir=$(dirname "$out") && before=$(_listing "$dir")
    "$@" >"$_LIB_WORK/stdout" 2>"$_LIB_WORK/stderr"
    rc=$?
    ((rc == 0)) || why="exit $rc, expected 0"
    if [[ -z $why && -n $out && $out != - ]]; then
        if [[ ! -f $out ]]; then
            why="output $out was not written"
        else
            local new
            new=$(comm -13 <(sort <<<"$before") <(_listing "$dir" | sort) | grep -vxF "$(basename "$out")")
            [[ -n $new ]] && why="left behind in $dir: $new"
        fi
    fi
    if [[ -z $why ]]; then pass "$label"; else fail "$label" "$why
stderr: $(head -c 2000 "$_LIB_WORK/stderr")"; fi
}

expect_fail() {
    local code=$1 pattern=$2
    shift 2
    local label out dir before="" print_before="" rc why="" lines
    _take_label "$@"
    label=$_LABEL
    out=$(_output_of "$@")
    if [[ -n $out && $out != - ]]; then
        dir=$(dirname "$out")
        before=$(_listing "$dir")
        print_before=$(_fingerprint "$out")
    fi
    "$@" >"$_LIB_WORK/stdout" 2>"$_LIB_WORK/stderr"
    rc=$?
    lines=$(grep -c '' "$_LIB_WORK/stderr")
    if ((rc != code)); then
        why="exit $rc, expected $code"
    elif ((lines != 1)); then
        why="stderr has $lines lines, expected exactly one"
    elif ! grep -Eq -- "$pattern" "$_LIB_WORK/stderr"; then
        why="stderr does not match /$pattern/"
    elif [[ -n $out && $out != - ]]; then
        if [[ $(_fingerprint "$out") != "$print_before" ]]; then
            why="output $out was created or changed"
        elif [[ $(_listing "$dir") != "$before" ]]; then
            why="files appeared in $dir: $(comm -13 <(sort <<<"$before") <(_listing "$dir" | sort))"
        fi
    elif [[ $out == - && -s $_LIB_WORK/stdout ]]; then
        why="wrote $(wc -c <"$_LIB_WORK/stdout") bytes to stdout"
    fi
    if [[ -z $why ]]; then
        pass "$label"
        [[ -n ${VERBOSE:-} ]] && echo "    stderr: $(cat "$_LIB_WORK/stderr")"
    else
        fail "$label" "$why
stderr: $(head -c 2000 "$_LIB_WORK/stderr")"
    fi
    return 0
}

check() {
    local label=$1
    shift
    _DESC=
    if "$@" >"$_LIB_WORK/check" 2>&1; then
        pass "$label"
    else
        fail "$label" "exit $?: $(tail -c 3000 "$_LIB_WORK/check")"
    fi
}

# The terms, weights and bounds of pipelines/synthetic.mk's steps (a) and
# (d) under RECIPE=paper (A_FLAGS, D_FLAGS with IC_BOUND 0.01; every
# backend runs them), for tests that run them on a short schedule of their own.
SYN_A=(--detectors 3 --losses s,ma,mm,ic,uur --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8
       --bound ic=0.01)
SYN_D=(--losses s,sb,ma,mm,ic,eac,cur,fso --weight s=0.85 --weight sb=2.6 --weight cur=0.25 --bound ma=0.8
       --bound mm=8 --bound ic=0.01 --bound eac=0.1 --bound fso=0.1)

# skip_without_torch NAME [PYTHON]: when PYTHON (Debian's python3 by default)
# cannot import torch, print NAME's "skipped" lines and exit 0.
skip_without_torch() {
    if ! "${2:-/usr/bin/python3}" -c 'import torch' 2>/dev/null; then
        echo "$1: skipped: python3-torch is not installed (apt-get install python3-torch)"
        echo "$1: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
}

finish() {
    echo "$_PASSED passed, $_FAILED failed"
    ((_FAILED == 0))
    exit $?
}
