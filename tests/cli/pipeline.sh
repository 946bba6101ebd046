#!/usr/bin/env bash
# pipeline.sh — end to end on the shipped digits: train, sample, score, eval,
# info, and the errors a user hits first (bad config, missing file, corrupted
# model), each with its exit status and one-line message.
# Usage: pipeline.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
check() { # check NAME EXPECTED_STATUS ACTUAL_STATUS
  if [ "$2" != "$3" ]; then echo "FAIL $1: exit $3, expected $2"; fail=1; else echo "ok   $1"; fi
}
one_line_error() { # one_line_error NAME FILE PATTERN
  if [ "$(wc -l < "$2")" -ne 1 ] || ! grep -q "^dgm: error: .*$3" "$2"; then
    echo "FAIL $1: stderr is not one 'dgm: error:' line matching '$3':"; cat "$2"; fail=1
  fi
}

cp "$src/configs/digits.json" cfg.json
sed -i "s#\.\./data/digits#$src/data/digits#g" cfg.json

"$dgm" train --config cfg.json --output m.dgm --quiet; check train 0 $?
[ -s m.dgm ] || { echo "FAIL train wrote no model"; fail=1; }
ls -a | grep -qE 'tmp|^\.dgm-' && { echo "FAIL temporary file left behind"; fail=1; }

"$dgm" sample -n 200 --model m.dgm --seed 3 > s1.txt; check sample 0 $?
[ "$(wc -l < s1.txt)" -eq 200 ] || { echo "FAIL sample: expected 200 lines"; fail=1; }
"$dgm" sample -n 200 --model m.dgm --seed 3 --threads 1 > s2.txt
cmp -s s1.txt s2.txt || { echo "FAIL sample: same seed, different samples"; fail=1; }
"$dgm" sample -n 3 --model m.dgm --format grid > g.txt; check sample-grid 0 $?
grep -q '#' g.txt || { echo "FAIL grid output has no '#'"; fail=1; }

"$dgm" sample -n 12 --model m.dgm --sheet sheet.png > /dev/null; check sample-sheet 0 $?
# 12 samples of 5x5 on an about-square grid (4 x 3), each upscaled x12 (the cap), gaps of 12/2 = 6 pixels.
size=$(od -An -tu1 -j16 -N8 sheet.png 2>/dev/null | awk '{print ($3 * 256 + $4) "x" ($7 * 256 + $8)}')
[ "$size" = "258x192" ] || { echo "FAIL sheet is $size, expected 258x192"; fail=1; }

"$dgm" score - --model m.dgm < s1.txt > scores.txt; check score-stdin 0 $?
[ "$(wc -l < scores.txt)" -eq 200 ] || { echo "FAIL score: expected 200 lines"; fail=1; }
awk -F'\t' 'NF != 3 || $2 > 0 { bad = 1 } END { exit bad }' scores.txt || { echo "FAIL score columns"; fail=1; }
DGM_MODEL=m.dgm "$dgm" sample -n 50 | DGM_MODEL=m.dgm "$dgm" score > /dev/null; check pipeline-env 0 $?

# A sample outside the space: reported with its source, the rest still scored, exit 1.
printf '0000000000000000000000000\n0000000000002000000000000\n1111111111111111111111111\n' |
  "$dgm" score -m m.dgm > out.txt 2> err.txt; check score-bad-line 1 $?
[ "$(wc -l < out.txt)" -eq 2 ] || { echo "FAIL score-bad-line: expected 2 scored lines"; cat out.txt; fail=1; }
grep -q '^dgm: error: <stdin>:2' err.txt || { echo "FAIL score-bad-line: stderr does not name line 2"; cat err.txt; fail=1; }

"$dgm" eval --model m.dgm --samples 500 > eval.txt; check eval 0 $?
grep -q 'NLL' eval.txt || { echo "FAIL eval output"; cat eval.txt; fail=1; }
"$dgm" info --json --model m.dgm > info.json; check info 0 $?
grep -q '"kind"' info.json || { echo "FAIL info output"; fail=1; }

# Reproducibility: the same config and seed give a byte-identical model file,
# whatever --threads, with --reproducible (the record then has no times).
"$dgm" train --config cfg.json --output m1.dgm --quiet --threads 1 --reproducible
"$dgm" train --config cfg.json --output m2.dgm --quiet --threads 2 --reproducible
cmp -s m1.dgm m2.dgm || { echo "FAIL model files differ between 1 and 2 threads"; fail=1; }
grep -q '"cpu_seconds"' info.json || { echo "FAIL the training record has no CPU time"; fail=1; }
"$dgm" info --model m1.dgm --json | grep -q '"cpu_seconds"' && { echo "FAIL --reproducible recorded times"; fail=1; }

# Errors: one line, exit 1 (runtime) or 2 (usage).
echo '{"space": {"shape": [5,5], "levels": 2}, "data": {"train": "x"}, "model": {"type": "mixture", "componets": 3}}' > bad.json
"$dgm" train --config bad.json 2> err.txt; check bad-config-key 1 $?
one_line_error bad-config-key err.txt "componets"
echo '{"space": ' > broken.json
"$dgm" train --config broken.json 2> err.txt; check broken-json 1 $?
one_line_error broken-json err.txt "broken.json"
"$dgm" score --model missing.dgm < s1.txt > /dev/null 2> err.txt; check missing-model 1 $?
one_line_error missing-model err.txt "missing.dgm"
cp m.dgm flipped.dgm
printf '\x55' | dd of=flipped.dgm bs=1 seek=100 conv=notrunc status=none
"$dgm" sample --model flipped.dgm 2> err.txt > /dev/null; check corrupted-model 1 $?
one_line_error corrupted-model err.txt "corrupted"
head -c 150 m.dgm > truncated.dgm
"$dgm" info --model truncated.dgm 2> err.txt > /dev/null; check truncated-model 1 $?
one_line_error truncated-model err.txt "truncated"
"$dgm" sample --model m.dgm -n 1000000000000000 2> err.txt > /dev/null; rc=$?
[ "$rc" = 1 ] || [ "$rc" = 2 ] || { echo "FAIL huge -n: exit $rc"; fail=1; }
"$dgm" sample --bogus 2> /dev/null; check usage-error 2 $?
"$dgm" 2> /dev/null; check no-command 2 $?

exit $fail
