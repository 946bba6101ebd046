#!/usr/bin/env bash
# convert.sh — end to end for `dgm convert`: a labeled binary dataset goes
# through every pair of formats that can hold it (grid, lines, csv, jsonl,
# image folders, idx, idx.gz, cifar, npy) and comes back the same (as a set
# when an image folder, which reads in label order, is on the way); the space
# is inferred from IDX, npy, CIFAR-10 and image headers and said on stderr;
# text goes to token ids and back through a model's codec, through stdin and
# stdout; usage errors exit 2 and bad input exits 1 with one line naming it
# and no output file.
# Usage: convert.sh DGM_BINARY SOURCE_DIR
set -u
dgm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }
space=(--shape 5x5 --levels 2 --labels 10)

# The reference: 300 noisy digits with labels 0..9, one a line.
"$dgm" convert "$src/data/digits/noisy.txt" plain.txt "${space[@]:0:4}" --to lines -q || fail "convert grid -> lines exited $?"
awk '{ printf "%s\t%d\n", $0, NR % 10 }' plain.txt > ref.txt
[ "$(wc -l < ref.txt)" -eq 300 ] || fail "expected 300 reference samples, got $(wc -l < ref.txt)"

# name FORMAT -> a file name for it; extra FORMAT NAME -> the options that read it back.
name() { case $1 in image) echo "$2-img/" ;; idx) echo "$2.idx" ;; idxgz) echo "$2-images-idx3-ubyte.gz" ;;
                    cifar) echo "$2.bin" ;; npy) echo "$2.npy" ;; *) echo "$2.$1" ;; esac; }
fmt() { [ "$1" = idxgz ] && echo idx || echo "$1"; }
labels_of() { case $1 in idx) echo "--labels-file ${2%.idx}-labels.idx" ;;
                         idxgz) echo "--labels-file ${2/images-idx3/labels-idx1}" ;;
                         npy) echo "--labels-file ${2%.npy}-labels.npy" ;; esac; }
formats=(grid lines csv jsonl image idx idxgz cifar npy)
pairs=0
for a in "${formats[@]}"; do
  fa=$(name "$a" "a_$a")
  "$dgm" convert ref.txt "$fa" "${space[@]}" --to "$(fmt "$a")" -q 2> err || fail "lines -> $a: $(cat err)"
  for b in "${formats[@]}"; do
    fb=$(name "$b" "b_${a}_$b")
    # shellcheck disable=SC2046
    "$dgm" convert "$fa" "$fb" "${space[@]}" $(labels_of "$a" "$fa") --to "$(fmt "$b")" -q 2> err ||
      fail "$a -> $b: $(cat err)"
    # shellcheck disable=SC2046
    "$dgm" convert "$fb" back.txt "${space[@]}" $(labels_of "$b" "$fb") --to lines -q 2> err || fail "$b -> lines: $(cat err)"
    if [ "$a" = image ] || [ "$b" = image ]; then
      cmp -s <(sort ref.txt) <(sort back.txt) || fail "lines -> $a -> $b -> lines changed the samples"
    else
      cmp -s ref.txt back.txt || fail "lines -> $a -> $b -> lines changed the samples: $(diff ref.txt back.txt | head -5)"
    fi
    pairs=$((pairs + 1))
  done
done
echo "convert.sh: $pairs format pairs round-trip" >&2

# The space from headers, and the message that says so.
"$dgm" convert a_npy.npy n.idx --labels-file a_npy-labels.npy 2> err || fail "npy -> idx without a space: $(cat err)"
grep -q "space {0..255}^(5x5) x {0..9} (shape and levels from the .npy header of a_npy.npy, labels from the largest label in a_npy-labels.npy + 1)" err ||
  fail "npy header space message: $(cat err)"
"$dgm" convert a_idx.idx n2.npy 2> err || fail "idx -> npy without a space: $(cat err)"
grep -q "space {0..255}^(5x5) (shape and levels from the IDX header of a_idx.idx)" err || fail "idx space message: $(cat err)"
"$dgm" convert a_image-img/ n.jsonl 2> err || fail "image -> jsonl without a space: $(cat err)"
grep -q "space {0..255}^(5x5) x {0..9} (shape and levels from the image a_image-img/0/" err ||
  fail "image space message: $(cat err)"
grep -q "labels from the largest label folder in a_image-img/ + 1" err || fail "image labels message: $(cat err)"
# A whole CIFAR-10 record file is taken as CIFAR-10.
head -c $((3073 * 3)) /dev/zero > c10.bin
"$dgm" convert c10.bin c10.npy 2> err || fail "cifar -> npy: $(cat err)"
grep -q "space {0..255}^(3x32x32) x {0..9} (shape, levels and labels from CIFAR-10 records" err || fail "cifar message: $(cat err)"
"$dgm" convert a_idx.idx - --threshold 1 -q | head -1 | grep -qE '^[01]{25}$' || fail "--threshold did not give a binary space"

# Text to token ids and back through a model's codec; stdin and stdout.
for i in $(seq 1 40); do echo "the cat sat on the mat number $((i % 7))"; echo "a dog sat on the log"; done > train.txt
printf 'The cat sat on the LOG\nthe bird sat on the mat\n' > text.txt
cat > cfg.json <<'JSON'
{"space": {"shape": [16], "variable_length": true},
 "data": {"train": "train.txt", "format": "text", "tokenizer": "word"},
 "model": {"type": "ngram", "order": 2}, "output": "lm.dgm"}
JSON
"$dgm" train -c cfg.json -q || fail "train the text model"
"$dgm" convert text.txt ids.txt -m lm.dgm --to lines 2> err || fail "text -> ids: $(cat err)"
grep -q "(the model lm.dgm)" err || fail "model space message: $(cat err)"
[ "$(wc -l < ids.txt)" -eq 2 ] && grep -qE '^[0-9]+( [0-9]+)*$' ids.txt || fail "ids are not lines of integers: $(cat ids.txt)"
# "bird" is not in the vocabulary: id 0, <unk>.
[ "$(sed -n 2p ids.txt | cut -d' ' -f2)" = 0 ] || fail "the OOV word is not id 0: $(cat ids.txt)"
"$dgm" convert ids.txt - -m lm.dgm -f lines --to text -q > back.txt || fail "ids -> text"
printf 'the cat sat on the log\nthe <unk> sat on the mat\n' | cmp -s - back.txt || fail "ids -> text gave: $(cat back.txt)"
cat text.txt | "$dgm" convert - - -m lm.dgm --to jsonl -q > ids.jsonl || fail "stdin -> stdout"
[ "$(head -1 ids.jsonl | tr -d ' ')" = "{\"x\":[$(head -1 ids.txt | tr ' ' ',')]}" ] || fail "stdin text -> jsonl: $(cat ids.jsonl)"

# Usage errors: exit 2.
usage() { # usage WANT ARGS...: exit status 2, WANT in the one-line message
  local want=$1
  shift
  "$dgm" convert "$@" > out 2> err
  local rc=$?
  [ "$rc" -eq 2 ] || fail "convert $* exited $rc, expected 2: $(cat err)"
  grep -qF -- "$want" err || fail "convert $*: message lacks '$want': $(cat err)"
}
usage "the file does not say its shape; give --shape and --levels" ref.txt x.npy
"$dgm" convert a_csv.csv i4.npy --shape 5x5 --levels 40000 --labels 10 -q || fail "lines -> npy of 40000 levels"
usage "the file does not say its levels; give --levels" i4.npy x.npy
usage "--shape '5y5': expected extents like 28x28" ref.txt x.npy --shape 5y5 --levels 2
usage "unknown format 'tiff'" ref.txt x.tiff "${space[@]}" --to tiff
usage "npy: .npy holds arrays of fixed-shape samples" ids.txt x.npy -m lm.dgm -f lines
usage "the npy format is written to files, not to stdout" a_npy.npy - --to npy
usage "excludes" ref.txt x.npy -m lm.dgm --levels 2
usage "--labels-file b.npy: give --labels N" a_npy.npy x.idx --shape 5x5 --levels 2 --labels-file b.npy --to idx

# Bad input: exit 1, one line naming it, nothing written.
runtime() { # runtime WANT OUTPUT ARGS...
  local want=$1 out=$2
  shift 2
  "$dgm" convert "$@" > /dev/null 2> err
  local rc=$?
  [ "$rc" -eq 1 ] || fail "convert $* exited $rc, expected 1: $(cat err)"
  [ "$(grep -c . err)" -le 2 ] && grep -q "^dgm: error: .*$want" err || fail "convert $*: expected one error naming '$want': $(cat err)"
  [ ! -e "$out" ] || fail "convert $* left $out behind"
}
runtime "missing.npy: cannot open" o1.txt missing.npy o1.txt
printf '\x93NUMPY\x01\x00\x76\x00{"descr": "<f4", "fortran_order": False, "shape": (2, 25), }' > f4.npy
printf '%*s\n' 57 '' >> f4.npy
head -c 200 /dev/zero >> f4.npy
runtime "f4.npy: dtype '<f4' (floating point) is not an integer type" o2.txt f4.npy o2.txt --shape 5x5 --levels 2
sed '1s/^./2/' ref.txt > bad.txt
runtime "bad.txt:1" o3.npy bad.txt o3.npy "${space[@]}"
exit 0
