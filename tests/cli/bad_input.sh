#!/usr/bin/env bash
# bad_input.sh — malformed files for every reader (through `dgm stats --data`
# and `dgm score`), the model loader (`dgm info`) and outputs that cannot be
# written (/dev/full, a missing directory). Each must exit 1 with exactly one
# stderr line "dgm: error: ..." naming the file, and leave no output file.
# Usage: bad_input.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
. "$src/tests/cli/lib.sh"

stats() { # stats FILE FORMAT [extra args]: 5x5 binary unless extra args give a shape
  local f=$1 fmt=$2
  shift 2
  if [ $# -gt 0 ]; then "$dgm" stats --data "$f" --format "$fmt" "$@"; else "$dgm" stats --data "$f" --format "$fmt" --shape 5,5 --levels 2; fi
}

# ---- fixtures: a model, valid files of each format ----
cp "$src/configs/digits.json" cfg.json
sed -i "s#\.\./data/digits#$src/data/digits#g; s#\"max_iterations\": 200#\"max_iterations\": 5#" cfg.json
"$dgm" train --config cfg.json --output m.dgm --quiet || { echo "FAIL cannot train the fixture model"; exit 1; }
mkdir adir
printf '\0\1\2\3garbage\377\376' > garbage.bin
: > empty.txt
head -c 100 /dev/urandom > random.bin

# ---- grid ----
printf '#####\n#...#\n' > g_short.txt
expect_error grid-truncated g_short.txt stats g_short.txt grid
printf '#####\n#..x#\n#...#\n#...#\n#####\n' > g_char.txt
expect_error grid-bad-char g_char.txt stats g_char.txt grid
printf '######\n#....#\n' > g_wide.txt
expect_error grid-wrong-width g_wide.txt stats g_wide.txt grid
expect_error grid-binary-garbage garbage.bin stats garbage.bin grid
expect_error grid-empty empty.txt stats empty.txt grid
expect_error grid-directory adir stats adir grid
expect_error grid-missing nothere.txt stats nothere.txt grid

# ---- lines ----
printf '0101\n' > l_short.txt
expect_error lines-wrong-length l_short.txt stats l_short.txt lines
printf '0101010101010101010101017\n' > l_level.txt
expect_error lines-value-outside-levels l_level.txt stats l_level.txt lines
printf '1 2 -3\n' > l_neg.txt
expect_error lines-negative l_neg.txt stats l_neg.txt lines --shape 3 --levels 256
printf '1 2 99999999999999999999999\n' > l_huge.txt
expect_error lines-huge-value l_huge.txt stats l_huge.txt lines --shape 3 --levels 256
printf '1 two 3\n' > l_nan.txt
expect_error lines-not-a-number l_nan.txt stats l_nan.txt lines --shape 3 --levels 256
expect_error lines-binary-garbage random.bin stats random.bin lines
expect_error lines-empty empty.txt stats empty.txt lines

# ---- csv ----
printf 'a,b,c\n1,2,3\n' > c_header.csv
expect_error csv-header c_header.csv stats c_header.csv csv --shape 3 --levels 256
printf '1,2\n' > c_short.csv
expect_error csv-too-few c_short.csv stats c_short.csv csv --shape 3 --levels 256
printf '1,2,1e400\n' > c_big.csv
expect_error csv-huge c_big.csv stats c_big.csv csv --shape 3 --levels 256
printf '1,2,300\n' > c_level.csv
expect_error csv-outside-levels c_level.csv stats c_level.csv csv --shape 3 --levels 256
expect_error csv-empty empty.txt stats empty.txt csv --shape 3 --levels 256

# ---- jsonl ----
printf '{"x": [1, 2, 3}\n' > j_bad.jsonl
expect_error jsonl-not-json j_bad.jsonl stats j_bad.jsonl jsonl --shape 3 --levels 256
printf '{"x": [1, 2, 3], "y": 1}\n' > j_key.jsonl
expect_error jsonl-unknown-key j_key.jsonl stats j_key.jsonl jsonl --shape 3 --levels 256
printf '{"x": [1, 2]}\n' > j_len.jsonl
expect_error jsonl-wrong-length j_len.jsonl stats j_len.jsonl jsonl --shape 3 --levels 256
printf '{"x": [1, 2, -1]}\n' > j_neg.jsonl
expect_error jsonl-negative j_neg.jsonl stats j_neg.jsonl jsonl --shape 3 --levels 256
expect_error jsonl-binary-garbage garbage.bin stats garbage.bin jsonl --shape 3 --levels 256

# ---- image ----
"$dgm" sample -n 1 --model m.dgm --format image -o pngs > /dev/null 2>&1
png=$(find pngs -name '*.png' | head -1)
if [ -z "$png" ]; then echo "FAIL no PNG fixture"; fail=1; else
  head -c 40 "$png" > trunc.png
  expect_error image-truncated-png trunc.png stats trunc.png image
  expect_error image-wrong-size "$png" stats "$png" image --shape 6,6 --levels 2
  expect_error score-image-truncated trunc.png "$dgm" score trunc.png --model m.dgm
fi
cp garbage.bin notimage.png
expect_error image-wrong-magic notimage.png stats notimage.png image
printf 'P5\n5 5\n255\n' > short.pgm
expect_error image-truncated-pgm short.pgm stats short.pgm image
printf 'P2\n5 5\n255\n1 2 x\n' > text.pgm
expect_error image-pgm-not-a-number text.pgm stats text.pgm image
: > empty.png
expect_error image-empty empty.png stats empty.png image
mkdir imgdir && cp garbage.bin imgdir/a.png
expect_error image-directory-with-garbage imgdir/a.png stats imgdir image
mkdir emptydir
expect_error image-empty-directory emptydir stats emptydir image
printf 'missing.png\n' > list.txt
expect_error image-list-missing-file missing.png stats list.txt image

# ---- idx ----
printf '\0\0\x08\x03\0\0\0\x02\0\0\0\x05\0\0\0\x05' > i_trunc.idx
expect_error idx-truncated i_trunc.idx stats i_trunc.idx idx
printf '\x01\x02\x08\x03\0\0\0\x01\0\0\0\x05\0\0\0\x05' > i_magic.idx
expect_error idx-wrong-magic i_magic.idx stats i_magic.idx idx
printf '\0\0\x08\x03\xff\xff\xff\xff\0\0\0\x05\0\0\0\x05' > i_huge.idx
expect_error idx-huge-claim i_huge.idx stats i_huge.idx idx
printf '\0\0\x08\x03\0\0\0\x01\0\0\0\x06\0\0\0\x06' > i_shape.idx
expect_error idx-wrong-shape i_shape.idx stats i_shape.idx idx
expect_error idx-empty empty.txt stats empty.txt idx
head -c 2000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > i_trunc.idx.gz 2>/dev/null &&
  expect_error idx-gz-truncated i_trunc.idx.gz stats i_trunc.idx.gz idx --shape 28,28 --levels 2
printf '\x1f\x8b\x08\x00\0\0\0\0\0\x03garbage-deflate' > i_bad.idx.gz
expect_error idx-gz-corrupt i_bad.idx.gz stats i_bad.idx.gz idx
expect_error idx-directory adir stats adir idx

# ---- cifar ----
head -c 100 /dev/zero > cf_size.bin
expect_error cifar-wrong-size cf_size.bin stats cf_size.bin cifar --shape 3,32,32 --levels 256
expect_error cifar-empty empty.txt stats empty.txt cifar --shape 3,32,32 --levels 256
printf '\x0c' > cf_label.bin && head -c 3072 /dev/zero >> cf_label.bin
expect_error cifar-label-outside-labels cf_label.bin stats cf_label.bin cifar --shape 3,32,32 --levels 256 --labels 10

# ---- score with bad files ----
expect_error score-binary-garbage garbage.bin "$dgm" score garbage.bin --model m.dgm -f lines
expect_error score-directory adir "$dgm" score adir --model m.dgm -f lines
expect_error score-empty empty.txt "$dgm" score empty.txt --model m.dgm -f lines
expect_error score-missing nothere.txt "$dgm" score nothere.txt --model m.dgm

# ---- model loader ----
expect_error info-empty empty.txt "$dgm" info --model empty.txt
head -c 100 m.dgm > trunc.dgm
expect_error info-truncated trunc.dgm "$dgm" info --model trunc.dgm
cp m.dgm flip.dgm && printf '\x41' | dd of=flip.dgm bs=1 seek=200 conv=notrunc 2>/dev/null
expect_error info-flipped flip.dgm "$dgm" info --model flip.dgm
grep -q corrupted err.txt || { echo "FAIL flipped model: not reported as corrupted"; fail=1; }
expect_error info-wrong-magic garbage.bin "$dgm" info --model garbage.bin
expect_error info-text-file "$src/configs/digits.json" "$dgm" info --model "$src/configs/digits.json"
expect_error info-directory adir "$dgm" info --model adir
expect_error info-missing nothere.dgm "$dgm" info --model nothere.dgm
expect_error score-bad-model flip.dgm "$dgm" score "$src/data/digits/test.txt" -f grid --model flip.dgm
expect_error sample-bad-model flip.dgm "$dgm" sample -n 5 --model flip.dgm -o samples.txt
[ -e samples.txt ] && { echo "FAIL sample with a bad model left samples.txt"; fail=1; }
expect_error sample-bad-model-sheet flip.dgm "$dgm" sample -n 5 --model flip.dgm --sheet sheet.png
[ -e sheet.png ] && { echo "FAIL sample with a bad model left sheet.png"; fail=1; }
printf 'not an arpa file\n' > bad.arpa
expect_error arpa-not-arpa bad.arpa "$dgm" info --model bad.arpa

# ---- hostile sizes on the command line ----

# ---- outputs that cannot be written ----
cp m.dgm before.dgm
expect_error train-dev-full /dev/full "$dgm" train --config cfg.json --output /dev/full --quiet
# A folder that cannot be made: its parent is a regular file (missing folders are created).
: > afile
expect_error train-no-dir afile/sub/m.dgm "$dgm" train --config cfg.json --output afile/sub/m.dgm --quiet
expect_error train-log-dev-full /dev/full "$dgm" train --config cfg.json --output m2.dgm --quiet --log /dev/full
[ -e m2.dgm ] && { echo "FAIL train with a failing log left m2.dgm"; fail=1; }
expect_error train-log-no-dir afile/sub/log.jsonl "$dgm" train --config cfg.json --output m2.dgm --quiet --log afile/sub/log.jsonl
expect_error sample-dev-full /dev/full "$dgm" sample -n 100 --model m.dgm -o /dev/full
expect_error sample-no-dir afile/sub/s.txt "$dgm" sample -n 10 --model m.dgm -o afile/sub/s.txt
"$dgm" sample -n 10 --model m.dgm --sheet sheet-ok.png > /dev/null && head -c 8 sheet-ok.png | grep -q PNG ||
  { echo "FAIL sample --sheet does not write a PNG"; fail=1; }
rm -f sheet-ok.png
expect_error sample-sheet-dev-full /dev/full "$dgm" sample -n 10 --model m.dgm --sheet /dev/full
expect_error sample-sheet-no-dir afile/sub/s.png "$dgm" sample -n 10 --model m.dgm --sheet afile/sub/s.png
printf 'in the beginning god created the heaven and the earth .\nand the earth was without form .\n' > corpus.txt
cat > ngram.json <<EOF
{"space": {"shape": [64], "variable_length": true}, "data": {"format": "text", "train": "corpus.txt"},
 "model": {"type": "ngram", "order": 2}}
EOF
"$dgm" train --config ngram.json -o ng.dgm --quiet || { echo "FAIL cannot train the n-gram fixture"; fail=1; }
expect_error export-arpa-dev-full /dev/full "$dgm" export --model ng.dgm --arpa /dev/full
expect_error export-arpa-no-dir afile/sub/x.arpa "$dgm" export --model ng.dgm --arpa afile/sub/x.arpa
expect_error sample-text-dev-full /dev/full "$dgm" sample -n 10 --model ng.dgm -o /dev/full
cmp -s m.dgm before.dgm || { echo "FAIL the existing model changed"; fail=1; }
[ -c /dev/full ] || { echo "FAIL /dev/full is no longer a device"; fail=1; }
leftover=$(ls -a | grep -E '\.tmp|^\.dgm-' || true)
[ -n "$leftover" ] && { echo "FAIL temporary files left behind: $leftover"; fail=1; }
ls /dev | grep -q '^full\.tmp' && { echo "FAIL temporary file left in /dev"; fail=1; }


# ---- the one atomic writer: kill -9 and Ctrl-C, long names, modes, symlinks ----
# interrupt_writer SIGNAL: `sample -o` is killed while its output file is open
# (an unnamed temporary is an fd on "(deleted)"; a named one shows in ls), and
# must leave the previous file and nothing else.
interrupt_writer() {
  local sig=$1 pid opened=0
  mkdir -p "kill-$sig" && echo previous > "kill-$sig/s.txt"
  # (a background job of a script ignores SIGINT unless it is reset)
  # The file is written in the last tenth of the run (the samples are drawn
  # first): 3 M samples give it about 0.3 s, watched by one `find` at a time
  # (a loaded machine once let a slower ls-and-grep loop miss 0.15 s).
  env --default-signal=INT "$dgm" sample -n 3000000 --model m.dgm -o "kill-$sig/s.txt" 2> /dev/null &
  pid=$!
  for _ in $(seq 1 20000); do
    if [ -n "$(find "kill-$sig" "/proc/$pid/fd" -mindepth 1 \( -path "kill-$sig/*" ! -name s.txt -o -lname "*kill-$sig/*" \) \
                 -print -quit 2> /dev/null)" ]; then
      opened=1; break
    fi
    kill -0 "$pid" 2> /dev/null || break
  done
  kill "-$sig" "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  cases=$((cases + 1))
  if [ "$opened" -ne 1 ]; then echo "FAIL sample-$sig: never saw the output being written"; fail=1; return; fi
  local left
  left=$(ls -a "kill-$sig" | grep -vE '^(\.|\.\.|s\.txt)$' | tr '\n' ' ')
  if [ -n "$left" ] || [ "$(cat "kill-$sig/s.txt")" != previous ]; then
    echo "FAIL sample-$sig: left '$left', previous file: $(head -c 20 "kill-$sig/s.txt")"; fail=1
  else
    echo "ok   sample-$sig while writing: the previous file and nothing else"
  fi
}
interrupt_writer KILL
interrupt_writer INT

cases=$((cases + 1))
long=$(printf 'n%.0s' $(seq 1 249))
if "$dgm" sample -n 3 --model m.dgm -o "$long" 2> err.txt && [ "$(wc -l < "$long")" -eq 3 ]; then
  echo "ok   sample -o a 249-character name"
else
  echo "FAIL sample -o a 249-character name:"; cat err.txt; fail=1
fi
rm -f "$long"

cases=$((cases + 1))
cp m.dgm private.dgm && chmod 600 private.dgm
"$dgm" train --config cfg.json --output private.dgm --quiet
mode=$(stat -c %a private.dgm)
[ "$mode" = 600 ] && echo "ok   retraining keeps mode 0600" || { echo "FAIL retraining over a 0600 model left it $mode"; fail=1; }

cases=$((cases + 1))
mkdir -p real && cp m.dgm real/target.dgm && ln -s real/target.dgm link.dgm
"$dgm" train --config cfg.json --output link.dgm --seed 9 --quiet
if [ -L link.dgm ] && ! cmp -s real/target.dgm m.dgm && "$dgm" info --model real/target.dgm > /dev/null; then
  echo "ok   train -o SYMLINK writes the link's target, the link stays"
else
  echo "FAIL train -o SYMLINK: link $( [ -L link.dgm ] && echo kept || echo replaced ), target $(cmp -s real/target.dgm m.dgm && echo unchanged || echo written)"; fail=1
fi

# ---- stdout is checked before exit; SIGPIPE stays quiet ----
"$dgm" sample -n 3 --model m.dgm > three.txt
expect_error_full stdout-full-sample '<stdout>: write error' "$dgm" sample -n 150 --model m.dgm
expect_error_full stdout-full-info '<stdout>: write error' "$dgm" info --model m.dgm
cases=$((cases + 1))
"$dgm" stats --config cfg.json > /dev/full 2> err.txt
status=$?
if [ "$status" -eq 1 ] && grep -q '^dgm: error: <stdout>: write error' err.txt; then echo "ok   stdout-full-stats: $(grep error err.txt)"
else echo "FAIL stdout-full-stats: exit $status:"; cat err.txt; fail=1; fi
expect_error_full stdout-full-eval '<stdout>: write error' "$dgm" eval --model m.dgm
expect_error_full stdout-full-score '<stdout>: write error' "$dgm" score --model m.dgm three.txt
cases=$((cases + 1))
"$dgm" sample -n 200000 --model m.dgm 2> err.txt | head -1 > /dev/null
status=${PIPESTATUS[0]}
if [ "$status" -eq 141 ] && [ ! -s err.txt ]; then echo "ok   sample | head: quiet SIGPIPE (141)"
else echo "FAIL sample | head: exit $status, stderr: $(cat err.txt)"; fail=1; fi
expect_error score-stdin-line '<stdin>:1' "$dgm" score --model m.dgm - <<< "012"
cases=$((cases + 1))
"$dgm" train --config cfg.json -o '' --quiet 2> err.txt
status=$?
if [ "$status" -eq 2 ] && grep -q 'empty value' err.txt && [ ! -e digits.dgm ]; then echo "ok   train -o '': usage error"
else echo "FAIL train -o '': exit $status, $(cat err.txt)"; fail=1; fi

cases=$((cases + 1))
"$dgm" train --config '' --quiet 2> err.txt
status=$?
if [ "$status" -eq 2 ] && grep -q -- "--config: an empty value" err.txt; then echo "ok   train -c '': usage error naming the empty value"
else echo "FAIL train -c '': exit $status, $(cat err.txt)"; fail=1; fi
for args in "--help" "--version" "sample --help"; do
  # shellcheck disable=SC2086
  expect_error_full "stdout-full $args" '<stdout>: write error' "$dgm" $args
done
expect_error_full stdout-full-convert '<stdout>: write error' "$dgm" convert three.txt - --to lines -m m.dgm -q
# A valid output name of 250 bytes has a checkpoint name too (shortened to fit NAME_MAX).
cases=$((cases + 1))
long=$(printf 'l%.0s' $(seq 246)).dgm
if "$dgm" train --config cfg.json --output "$long" --set train.checkpoint_every=1 --quiet 2> err.txt && [ -s "$long" ] &&
  [ -z "$(find . -name 'l*partial*')" ]; then echo "ok   train -o NAME_OF_250_BYTES with checkpoints"
else echo "FAIL train -o NAME_OF_250_BYTES with checkpoints: $(cat err.txt)"; fail=1; fi
rm -f "$long"

# ---- threads the system refuses: an error, not a hang (not under ASan, which needs the address space) ----
if ! grep -q __asan_init "$dgm"; then
  cases=$((cases + 1))
  (ulimit -v 600000; timeout 60 "$dgm" sample -n 100000 --model m.dgm -t 1000 > /dev/null 2> err.txt)
  status=$?
  if [ "$status" -eq 1 ] && grep -q 'cannot start 1000 threads' err.txt; then echo "ok   -t 1000 under ulimit -v: $(cat err.txt)"
  else echo "FAIL -t 1000 under ulimit -v: exit $status (124: hung), $(cat err.txt)"; fail=1; fi
fi

# ---- JSON: depth, duplicates, and the same key checks in stats as in train ----
{ printf '{"space": {"shape": [5, 5], "levels": 2}, "model": '; head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; printf '}'; } > deep.json
expect_error config-nested-deep 'deep.json: JSON nested more than 64 levels' "$dgm" train --config deep.json --quiet
[ "$(wc -c < err.txt)" -lt 200 ] || { echo "FAIL config-nested-deep: a message of $(wc -c < err.txt) bytes"; fail=1; }
sed 's/"type": "mixture"/"type": "mixture", "type": "independent"/' cfg.json > dupkey.json
expect_error config-duplicate-key "dupkey.json: duplicate key 'model.type'" "$dgm" train --config dupkey.json --quiet
sed 's/"model": *{/"modle": 1, "model": {/' cfg.json > typo.json
expect_error stats-config-unknown-key "typo.json: unknown key 'modle'" "$dgm" stats --config typo.json

# ---- inputs: endless, looped, marked, long ----
expect_error config-dev-zero '/dev/zero: more than 64.0 MiB of config' "$dgm" train --config /dev/zero --quiet
expect_error given-dev-zero '/dev/zero:1: binary data (a NUL byte)' "$dgm" sample -n 1 --model m.dgm --given /dev/zero
ln -s loop-b loop-a && ln -s loop-a loop-b
expect_error data-symlink-loop 'loop-a: cannot open: too many levels of symbolic links' "$dgm" stats --data loop-a --format lines --shape 5,5 --levels 2
expect_error config-symlink-loop 'loop-a: cannot open: too many levels of symbolic links' "$dgm" train --config loop-a
head -c 20000000 /dev/zero | tr '\0' '1' > long-line.txt
expect_error given-long-line 'long-line.txt:1: more than 25 values' "$dgm" sample -n 1 --model m.dgm --given long-line.txt
cases=$((cases + 1))
printf '\357\273\277' > bom-test.txt && cat "$src/data/digits/test.txt" >> bom-test.txt
if "$dgm" stats --data bom-test.txt --format grid --shape 5,5 --levels 2 > /dev/null 2> err.txt; then echo "ok   a UTF-8 BOM is not data"
else echo "FAIL a file starting with a BOM: $(cat err.txt)"; fail=1; fi

# ---- the memory budget governs model sizes ----
sed 's/"components": *10/"components": 100000/' cfg.json > huge-mixture.json
DGM_MEMORY_LIMIT_MB=100 expect_error mixture-100000-components "more than the 100.0 MiB of memory available" \
  "$dgm" train --config huge-mixture.json --quiet -o huge.dgm
echo "$cases cases"
exit $fail
