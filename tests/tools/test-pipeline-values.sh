# test-pipeline-values.sh — pipeline settings with shell characters reach the
# tools as written: pipelines/synthetic.mk writes each flags file with Make's
# $(file …) (no shell), and pipelines/step.sh splits an @FILE.flags argument
# into words at blanks with '…', "…" and \ quoting, expanding nothing.
source tests/tools/lib.sh

V=(SEED=5 SEEDS=5 PER_CLASS=30 HEAD_FLAGS="--epochs 50" EPOCHS_A=20 EPOCHS_D=20 BATCH=32 LR=1e-3 LR_A=1e-3
   SAE_FLAGS="--hidden 3 --epochs 5" SAE_LAMBDAS=0)
M() { make --no-print-directory "${V[@]}" "$@"; }
R=$TMP/runs/seed5

# A non-default configuration: four classes of 1×2 pixels, one pixel
# without a concept; ';' needs no quoting, the quoted form works too.
CLASSES='0,1;0,2;1,2;2,-1'
check "make synthetic with --classes '$CLASSES' (unquoted in DATA_FLAGS)" \
    M -s SYN_DIR="$TMP/runs" DATA_FLAGS="--classes $CLASSES --on 3:5" synthetic
check "the data flags file holds the value as written" \
    bash -c "[[ \$(cat '$R/data.flags') == '--per-class 30 --classes $CLASSES --on 3:5' ]]"
check "synthgen got the four classes" py "$CLASSES" <<'EOF'
import h5py, sys
for split in ("train", "test"):
    f = h5py.File(f"{sys.argv[1]}/runs/seed5/{split}.h5", "r")
    classes = f.attrs["classes"]
    classes = classes.decode() if isinstance(classes, bytes) else str(classes)
    assert classes == sys.argv[2], (split, classes)
    assert len(set(f["labels"][()].tolist())) == 4
EOF
check "the report was made from them" grep -q 'signal-value RMSE' "$R/report.txt"
check "the same setting again: nothing to redo" \
    M -q SYN_DIR="$TMP/runs" DATA_FLAGS="--classes $CLASSES --on 3:5" "$R/report.txt"
check "quoting it changes the flags file's text (a new setting), and the run still works" \
    M -s SYN_DIR="$TMP/runs" DATA_FLAGS="--classes '$CLASSES' --on \"3:5\"" "$R/train.h5"
check "…with the same data" py <<'EOF'
import h5py, sys
assert h5py.File(sys.argv[1] + "/runs/seed5/train.h5", "r").attrs["classes"] in (b"0,1;0,2;1,2;2,-1", "0,1;0,2;1,2;2,-1")
EOF

# Any printable value: every shell character, quotes of both kinds, a
# literal dollar (written $$ as everywhere in Make), blanks inside quotes.
TORTURE=(--note "it's" --x 'say "hi"' --y 'a;b|c&d>e<f' --z '$HOME $(id) `id` *?[a] ~ #!' --w 'two words' --v 'back\slash')
# The same words as a flags-file value, and as Make needs it ($ as $$).
VALUE=$(py "${TORTURE[@]}" <<'EOF'
import sys
def word(w):
    if "'" in w:
        return '"' + w + '"'
    return "'" + w + "'" if any(c in w for c in " \"\\;|&<>$`*?[~#()") else w
print(" ".join(word(w) for w in sys.argv[2:]).replace("$", "$$"))
EOF
)
M -s SYN_DIR="$TMP/t" SAE_FLAGS="$VALUE" "$TMP/t/seed5/sae.flags" >/dev/null 2>&1
check "a flags file round-trips every shell character" bash -c '
    diff <(pipelines/step.sh n short /dev/null printf "%s\n" "@$1/t/seed5/sae.flags") <(shift; printf "%s\n" "$@")' \
    _ "$TMP" "${TORTURE[@]}"
check "an unchanged value leaves the flags file alone (no rerun)" bash -c "
    before=\$(stat -c %Y.%y '$TMP/t/seed5/sae.flags'); sleep 1
    make --no-print-directory ${V[*]@Q} -s SYN_DIR='$TMP/t' SAE_FLAGS=${VALUE@Q} '$TMP/t/seed5/sae.flags' >/dev/null 2>&1
    [[ \$(stat -c %Y.%y '$TMP/t/seed5/sae.flags') == \$before ]]"

printf '%s\n' "--classes '0,1;1,0" >"$TMP/bad.flags"
expect_fail 65 "bad.flags.*quote" pipelines/step.sh n short /dev/null true "@$TMP/bad.flags"
expect_fail 66 "nothing.flags" pipelines/step.sh n short /dev/null true "@$TMP/nothing.flags"
finish
