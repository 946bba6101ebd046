#!/usr/bin/env bash
# plot.sh — training curves: `dgm train --log --plot` keeps a PNG up to date,
# `dgm plot` draws one or several logs and a model file's record, and bad
# inputs are one-line errors naming the file (exit 1) or usage errors (exit 2).
# The PNGs are checked for their signature and size (tests/cli cannot look at
# them; the README's curve was looked at).
# Usage: plot.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
# PLplot's fonts (fontconfig, pango) keep caches to the end of the process:
# not leaks of ours, so LeakSanitizer is off here (the rest of ASan is on).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0

if ! "$dgm" plot --help > /dev/null 2>&1; then echo "FAIL dgm plot --help"; exit 1; fi
sed "s#\.\./data/digits#$src/data/digits#g" "$src/configs/digits-nade.json" > nade.json
sed "s#\.\./data/digits#$src/data/digits#g" "$src/configs/digits.json" > mixture.json

is_png() { # is_png FILE MIN_BYTES
  [ -f "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] && [ "$(stat -c %s "$1")" -ge "$2" ]
}

if ! "$dgm" train -c nade.json -o nade.dgm -q --set train.epochs=30 --log nade.jsonl --plot live.png; then
  if "$dgm" plot nade.jsonl -o x.png 2>&1 | grep -q "built without PLplot"; then
    echo "skip: this dgm was built without PLplot"; exit 0
  fi
  echo "FAIL train --plot"; exit 1
fi
is_png live.png 10000 && echo "ok   train --plot drew live.png" || { echo "FAIL train --plot: no PNG"; fail=1; }
"$dgm" train -c mixture.json -o mixture.dgm -q --log mixture.jsonl --set train.restarts=2 ||
  { echo "FAIL mixture training"; fail=1; }

"$dgm" plot nade.jsonl -o one.png 2> err.txt && is_png one.png 10000 &&
  grep -q "drew 1 curve to one.png" err.txt && echo "ok   one log" || { echo "FAIL plot one log"; cat err.txt; fail=1; }
"$dgm" plot nade.jsonl mixture.jsonl nade.dgm -o three.png --width 800 --height 500 2> err.txt && is_png three.png 10000 &&
  grep -q "drew 3 curves" err.txt && echo "ok   two logs and a model file" || { echo "FAIL plot three"; cat err.txt; fail=1; }
# 800 x 500: the IHDR chunk holds the size.
[ "$(od -An -tu1 -j16 -N8 three.png | tr -s ' ')" = " 0 0 3 32 0 0 1 244" ] ||
  { echo "FAIL --width/--height not honoured"; fail=1; }

# Errors: not a log (file and line named), a model without a record, no -o.
printf '{"epoch": 1, "train_nll": 2}\nnot json\n' > bad.jsonl
"$dgm" plot bad.jsonl -o bad.png 2> err.txt; s=$?
[ $s -eq 1 ] && grep -q "bad.jsonl:2" err.txt && [ ! -e bad.png ] && echo "ok   a bad line is named" ||
  { echo "FAIL bad log: exit $s"; cat err.txt; fail=1; }
echo '{"loss": 3}' > other.jsonl
"$dgm" plot other.jsonl -o o.png 2> err.txt; s=$?
[ $s -eq 1 ] && grep -q 'no "epoch" or "iteration"' err.txt || { echo "FAIL foreign JSONL: exit $s"; cat err.txt; fail=1; }
"$dgm" plot nade.jsonl 2> err.txt; s=$?
[ $s -eq 2 ] || { echo "FAIL missing -o: exit $s, expected 2"; fail=1; }
exit $fail
