# test-resume.sh — --resume compares the PARSED settings (the option rows'
# values and the operands), not argv's text: `--lr=x` for `--lr x`, options in
# another order, abbreviations (`--epo 20`) and other spellings of the same
# numbers resume the run; a changed value is refused.
#
# Every case interrupts uibe at epoch 7 (EDDP_TEST_STOP_AT_EPOCH) with the
# reference spelling, then reruns it with --resume in another spelling under
# EDDP_TEST_STOP_AT_EPOCH=3: a run that started over would stop at epoch 3
# (exit 75); one that continued from epoch 7 finishes, bit-identical to an
# uninterrupted run.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe
$SG --seed 3 --per-class 30 -o "$TMP/f.h5" && $TH --seed 3 --epochs 50 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }
F=$TMP/f.h5 H=$TMP/h.h5
mkdir -p "$TMP/ck" "$TMP/run"

A=(--threads 1 --seed 3 --detectors 3 --epochs 20 --batch 32 --lr 1e-3 --objective constrained
   --weight s=2.6 --bound ma=0.8 --al-every 5)
expect_ok $UIBE "${A[@]}" "$F" "$H" -o "$TMP/ref.h5"

SAME=tests/tools/same-datasets.py

# interrupt NAME: the reference spelling, stopped after epoch 7 with a checkpoint.
interrupt() {
    EDDP_TEST_STOP_AT_EPOCH=7 $UIBE "${A[@]}" --checkpoint "$TMP/ck/$1.ckpt" "$F" "$H" -o "$TMP/run/$1.h5" 2>/dev/null
    [[ $? == 75 && -s $TMP/ck/$1.ckpt ]] || fail "$1: the interrupted run left a checkpoint"
}

# resumes NAME DESCRIPTION ARGS...: --resume with ARGS continues the run.
resumes() {
    local name=$1 what=$2
    shift 2
    interrupt "$name"
    desc "$what resumes"
    EDDP_TEST_STOP_AT_EPOCH=3 expect_ok $UIBE "$@" --resume --checkpoint "$TMP/ck/$name.ckpt" -o "$TMP/run/$name.h5"
    check "$what: the resumed run equals the uninterrupted one" /usr/bin/python3 "$SAME" "$TMP/ref.h5" \
        "$TMP/run/$name.h5"
}

# refused NAME DESCRIPTION ARGS...: --resume with ARGS is refused (65), the checkpoint kept.
refused() {
    local name=$1 what=$2
    shift 2
    interrupt "$name"
    desc "$what is refused"
    expect_fail 65 "$name\.ckpt: checkpoint of a run with other settings" \
        $UIBE "$@" --resume --checkpoint "$TMP/ck/$name.ckpt" -o "$TMP/run/$name.h5"
    check "$what: the checkpoint is kept" test -s "$TMP/ck/$name.ckpt"
}

resumes same "the same command line" "${A[@]}" "$F" "$H"
resumes equals "--x=v for --x v" --threads=1 --seed=3 --detectors=3 --epochs=20 --batch=32 --lr=1e-3 \
    --objective=constrained --weight=s=2.6 --bound=ma=0.8 --al-every=5 "$F" "$H"
resumes reordered "options in another order, operands first" "$F" "$H" --al-every 5 --bound ma=0.8 \
    --weight s=2.6 --objective constrained --lr 1e-3 --batch 32 --epochs 20 --detectors 3 --seed 3 --threads 1
resumes abbreviated "abbreviations (--epo, --det, --obj ...)" --thr 1 --se 3 --det 3 --epo 20 --bat 32 --lr 1e-3 \
    --obj constrained --wei s=2.6 --bou ma=0.8 --al-e 5 "$F" "$H"
resumes numbers "other spellings of the same values (0.001, 2.60, 032)" --threads 1 --seed 3 --detectors 3 \
    --epochs 20 --batch 032 --lr 0.001 --objective constrained --weight s=2.60 --bound ma=8e-1 --al-every 5 "$F" "$H"
resumes defaults "a default given explicitly (--gamma 1.1, --objective given twice)" "${A[@]}" --gamma 1.1 \
    --objective constrained "$F" "$H"

refused lr "another --lr" "${A[@]}" --lr=2e-3 "$F" "$H"
refused lr-abbrev "another value through an abbreviation (--wei s=2.5)" "${A[@]}" --wei s=2.5 "$F" "$H"
refused bound "another --bound" "${A[@]}" --bound ic=0.1 "$F" "$H"
refused seed "another --seed" "${A[@]}" --seed 4 "$F" "$H"
cp "$H" "$TMP/h2.h5"
refused operand "another operand (a copy of the head)" "${A[@]}" "$F" "$TMP/h2.h5"
finish
