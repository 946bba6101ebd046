#!/usr/bin/env bash
# data_path.sh — one data path for every model, as a user meets it: what the
# command line refuses (usage errors, exit 2, with a "did you mean"), what it
# detects (the shipped digits need no -f), where it reads and writes ("-" is
# stdin or stdout everywhere, missing output folders are created, config paths
# are relative to the config's folder), and that a text model goes through the
# same commands as an image model (eval --set data.test=, no silent options).
# Usage: data_path.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
bad() { echo "FAIL $*"; fail=1; }
# expect STATUS CMD...: runs CMD, checks its exit status; stderr in err.txt.
expect() {
  local want=$1
  shift
  "$@" > out.txt 2> err.txt
  local got=$?
  [ "$got" -eq "$want" ] || { bad "exit $got (want $want): $*"; cat err.txt; }
}

# Usage errors: exit 2, one "usage error" line, a suggestion for a near miss.
expect 2 "$dgm" sampel
grep -q "unknown command 'sampel'; did you mean 'sample'" err.txt || { bad "command suggestion"; cat err.txt; }
expect 2 "$dgm" sample --formt grid
grep -q "did you mean '--format'" err.txt || { bad "option suggestion"; cat err.txt; }
expect 2 "$dgm" sample -m x.dgm -o ''
grep -q "an empty value" err.txt || { bad "empty value"; cat err.txt; }

# A model of the digits, written into folders that do not exist yet.
expect 0 "$dgm" train -c "$src/configs/digits.json" -o new/folder/m.dgm -q
[ -s new/folder/m.dgm ] || bad "train -o into a missing folder"
m=new/folder/m.dgm

# The shipped digits are recognised as grids: no -f, one line a sample.
expect 0 "$dgm" score -m $m "$src/data/digits/test.txt"
[ "$(wc -l < out.txt)" -eq 100 ] || { bad "score the shipped digits without -f"; head -3 err.txt; }
# Forced to the wrong format, dgm stops after a few bad records with a hint.
expect 1 "$dgm" score -m $m -f lines "$src/data/digits/test.txt"
[ "$(wc -l < err.txt)" -le 6 ] || { bad "error flood: $(wc -l < err.txt) lines"; }
grep -q "try -f grid" err.txt || { bad "no format hint"; cat err.txt; }

# "-" is stdin and stdout: the config, the model, the data, --given, the output.
# Paths in a config read from stdin are relative to the current folder.
expect 1 "$dgm" train -c - -o - -q < "$src/configs/digits.json"
grep -q "no such file" err.txt && [ ! -s out.txt ] || { bad "train -c - from another folder"; cat err.txt; }
(cd "$src/configs" && "$dgm" train -c - -o - -q < digits.json) > piped.dgm 2> err.txt || { bad "train -c - -o -"; cat err.txt; }
expect 0 "$dgm" info -m - < piped.dgm
grep -q "^model *<stdin>" out.txt || { bad "info -m - names <stdin>"; cat out.txt; }
expect 0 "$dgm" sample -m - -n 3 --seed 4 < piped.dgm
[ "$(wc -l < out.txt)" -eq 3 ] || bad "sample -m -"
"$dgm" sample -m $m -n 2 -f lines | "$dgm" score -m $m - > out.txt 2> err.txt ||
  { bad "score from stdin"; cat err.txt; }
[ "$(wc -l < out.txt)" -eq 2 ] && grep -q "^<stdin>:1" out.txt || { bad "stdin scores are named <stdin>:LINE"; cat out.txt; }
printf '01110\n10001\n' | "$dgm" sample -m $m -n 2 --seed 1 --given - -f lines > out.txt 2> err.txt ||
  { bad "--given -"; cat err.txt; }

# Missing output folders are created for every writer.
expect 0 "$dgm" sample -m $m -n 4 -o a/b/s.txt -f grid
[ -s a/b/s.txt ] || bad "sample -o into a missing folder"
expect 0 "$dgm" sample -m $m -n 4 --sheet c/d/sheet.png
[ -s c/d/sheet.png ] || bad "--sheet into a missing folder"
expect 0 "$dgm" sample -m $m -n 3 -f image -o e/f/
[ "$(ls e/f | wc -l)" -eq 3 ] || { bad "sample -f image -o a missing folder/"; ls -R e; }
# Without -f the output's name says the format: a .npy, a .png (one sample,
# one picture; more is refused with nothing written), a folder/ of images.
expect 0 "$dgm" sample -m $m -n 3 -o named.npy
[ "$(head -c 6 named.npy | tail -c 5)" = "NUMPY" ] || bad "sample -o named.npy is not an npy file"
expect 0 "$dgm" sample -m $m -n 1 -o one.png
[ "$(head -c 4 one.png | tail -c 3)" = "PNG" ] || bad "sample -n 1 -o one.png is not a PNG file"
expect 1 "$dgm" sample -m $m -n 2 -o two.png
grep -q "two.png: one image file holds one sample, and there are 2" err.txt || { bad "-n 2 -o two.png"; cat err.txt; }
[ -e two.png ] && bad "a refused -o two.png left something behind"
expect 0 "$dgm" sample -m $m -n 2 -o pics/
[ "$(ls pics | wc -l)" -eq 2 ] || { bad "sample -o pics/"; ls -R pics; }
expect 0 "$dgm" train -c "$src/configs/digits.json" -o g/m.dgm -q --log h/i/log.jsonl
[ -s h/i/log.jsonl ] || bad "--log into a missing folder"

# Config paths are relative to the config's folder: eval works from anywhere.
(cd / && "$dgm" eval -m "$tmp/$m" --samples 50) > out.txt 2> err.txt || { bad "eval from another folder"; cat err.txt; }
grep -q "digits/test.txt" out.txt || { bad "eval names the config's test file"; cat out.txt; }
expect 0 "$dgm" eval -m $m --samples 50 --set data.test="$src/data/digits/skewed.txt"
grep -q "skewed.txt" out.txt && grep -q "300 samples" out.txt || { bad "eval --set data.test"; cat out.txt; }

# --shape 28x28 is how dgm prints shapes, and it is accepted.
"$dgm" sample -m $m -n 2 -f npy -o s.npy 2> err.txt || bad "sample -f npy"
expect 0 "$dgm" convert s.npy s2.txt --to grid --levels 2
expect 0 "$dgm" convert --shape 5x5 --levels 2 s2.txt s3.npy
cmp -s s.npy s3.npy || bad "convert --shape 5x5 round trip"

# A CIFAR batch whose label byte is no class is refused, labels or not.
/usr/bin/python3 - <<'PY'
open("bad.bin", "wb").write((bytes([200]) + bytes(3 * 32 * 32)) * 2)
PY
cat > cifar.json <<'JSON'
{"space": {"shape": [3, 32, 32], "levels": 256}, "data": {"train": "bad.bin", "format": "cifar"},
 "model": {"type": "independent"}, "output": "c.dgm"}
JSON
expect 1 "$dgm" train -c cifar.json -q
grep -q "bad.bin: record 1: label byte 200" err.txt || { bad "CIFAR label byte"; cat err.txt; }
[ ! -e c.dgm ] || bad "a refused training wrote a model"

# A text model goes through the same commands; options that do not apply to it
# are usage errors, not silently ignored.
for i in $(seq 1 40); do
  echo "the cat sat on the mat $((i % 7))"
  echo "a dog saw the cat"
done > train.txt
printf 'the cat sat\nthe dog sat on the mat\n' > test.txt
printf 'a dog\n' > other.txt
cat > lm.json <<'JSON'
{"space": {"shape": [64], "variable_length": true},
 "data": {"train": "train.txt", "test": "test.txt", "format": "text", "tokenizer": "word"},
 "model": {"type": "ngram", "order": 3}, "output": "lm/lm.dgm"}
JSON
expect 0 "$dgm" train -c lm.json -q
expect 2 "$dgm" sample -m lm/lm.dgm -n 2 --sheet x.png
expect 2 "$dgm" sample -m lm/lm.dgm -n 2 -f grid
expect 2 "$dgm" sample -m lm/lm.dgm -n 2 -f image -o DIR/
[ ! -e x.png ] && [ ! -e DIR ] || bad "a refused text sample wrote output"
expect 0 "$dgm" eval -m lm/lm.dgm --set data.test=other.txt
grep -q "other.txt" out.txt && grep -q "1 samples" out.txt || { bad "text eval --set data.test"; cat out.txt; }
expect 0 "$dgm" export -m lm/lm.dgm --arpa -
grep -q '^\\data\\' out.txt || bad "export --arpa - to stdout"
echo "the cat" | "$dgm" score -m lm/lm.dgm - > out.txt 2> err.txt || { bad "text score from stdin"; cat err.txt; }
grep -q "^<stdin>:1" out.txt || { bad "text stdin scores"; cat out.txt; }
exit $fail
