# test-options.sh — the option tables against the man pages and each other:
# every long option a tool's --help lists (generated from its rows) is
# documented in its man page, with the same choices; --help and --version
# answer on stdout with exit 0; a bad value is one line naming the option.
# featdump keeps its own getopt loop for now and is left out.
source tests/tools/lib.sh

TOOLS=(cachegpu correct eddp imgset iou-label pcav rcav regress sae synthgen trainhead trainnet uibe)

for tool in "${TOOLS[@]}"; do
    help=$(bin/$tool --help) || { fail "$tool --help exits 0"; continue; }
    man=$(sed 's/\\-/-/g; s/\\(em/-/g; s/\\f[BIRP]//g' "man/man1/$tool.1")
    missing=()
    for name in $(grep -oE -- '--[a-z0-9][a-z0-9-]*' <<<"$help" | sort -u); do
        grep -qE -- "$name([^a-z0-9-]|\$)" <<<"$man" || missing+=("$name")
    done
    if ((${#missing[@]} == 0)); then pass "$tool: every option of --help is in $tool(1)"
    else fail "$tool: --help options missing from man/man1/$tool.1" "${missing[*]}"; fi
    # A choice row's values ("--split all|train|test") appear in the man page too.
    bad=()
    while read -r name values; do
        for v in ${values//|/ }; do
            grep -qE -- "$v" <<<"$man" || bad+=("$name $v")
        done
    done < <(grep -oE -- '^  --[a-z0-9-]+ [a-z0-9]+(\|[a-z0-9\[\]:]+)+' <<<"$help")
    if ((${#bad[@]} == 0)); then pass "$tool: the choices of --help are in $tool(1)"
    else fail "$tool: choices missing from man/man1/$tool.1" "${bad[*]}"; fi
    check "$tool --version" bash -c "bin/$tool --version | grep -qx '$tool (eddp-toolkit) [0-9.]*'"
    expect_fail 64 "^$tool: --threads: expected an integer in \[0, 4096\], got 'x' \(try '$tool --help'\)\$" \
        bin/$tool --threads x -o "$TMP/x.h5"
    expect_fail 64 "^$tool: unknown option '--no-such-option' \(try '$tool --help'\)\$" \
        bin/$tool --no-such-option -o "$TMP/x.h5"
done

# The trainers share one row, hence one range, for --epochs and --lr; the man
# pages state it (eddp(1) refers to uibe(1) for the training options).
for tool in uibe eddp trainhead sae trainnet; do
    page=$tool; [[ $tool == eddp ]] && page=uibe
    check "$tool: --epochs [1, 1000000000], --lr [1e-15, 1000000] in --help and $page(1)" bash -c "
        bin/$tool --help | grep -qE -- '--epochs N .*\[1, 1000000000\]\$' &&
        bin/$tool --help | grep -qE -- '--lr X .*\[1e-15, 1000000\]\$' &&
        sed 's/\\\\-/-/g' man/man1/$page.1 | grep -qF '[1, 1000000000]' &&
        sed 's/\\\\-/-/g' man/man1/$page.1 | grep -qF '[1e-15, 1000000]'"
done
expect_fail 64 "^eddp: --epochs: expected an integer in \[1, 1000000000\], got '0'" \
    bin/eddp --step d --epochs 0 a b c -o "$TMP/x.h5"
expect_fail 64 "^trainhead: --lr: expected a number in \[1e-15, 1000000\], got '0'" \
    bin/trainhead --lr 0 a -o "$TMP/x.h5"
expect_fail 64 "option '--e' is ambiguous \(--epochs, --eval\)" bin/trainhead --e 3 a -o "$TMP/x.h5"
finish
