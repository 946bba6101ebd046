#!/usr/bin/env bash
# prepare_kjv.sh — the King James Bible as a tokenized text corpus for the
# n-gram models (issue 5). One verse a line: `bible -f` prints "Ge1:1 In the
# beginning ..."; the reference is dropped, the text lowercased, and the
# tokens (matches of [a-z0-9]+|[^a-z0-9\s]) joined by single spaces. Lines
# 10, 20, 30, ... (1-based) go to test.txt, the others to train.txt. The char
# versions (train_char.txt, test_char.txt) are the same lines with the spaces
# replaced by '_', for the char tokenizer (configs/kjv-char8.json).
#
#   scripts/prepare_kjv.sh [OUTDIR]      # default data/kjv (gitignored)
#
# Expected: 31102 verses; train 27992 lines, 824969 tokens, 12154 types;
# test 3110 lines, 92271 tokens; the md5 sums are checked below.
set -euo pipefail

out="${1:-data/kjv}"
command -v bible >/dev/null || { echo "prepare_kjv.sh: the 'bible' program is not installed (apt-get install bible-kjv)" >&2; exit 1; }
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

bible -f gen1:1-rev22:21 > "$tmp/raw.txt"
lines=$(wc -l < "$tmp/raw.txt")
[ "$lines" -eq 31102 ] || { echo "prepare_kjv.sh: bible printed $lines verses, expected 31102" >&2; exit 1; }

# Drop the reference (first field), lowercase, tokenize, join by one space.
LC_ALL=C perl -ne 's/^\S+ //; $_ = lc $_; print join(" ", /[a-z0-9]+|[^a-z0-9\s]/g), "\n";' \
  "$tmp/raw.txt" > "$tmp/all.txt"
awk 'NR % 10 == 0' "$tmp/all.txt" > "$tmp/test.txt"
awk 'NR % 10 != 0' "$tmp/all.txt" > "$tmp/train.txt"
for s in train test; do
  tr ' ' '_' < "$tmp/$s.txt" > "$tmp/${s}_char.txt"
done

check() {  # file expected-md5
  local got
  got=$(md5sum < "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "prepare_kjv.sh: $(basename "$1") has md5 $got, expected $2 (a different bible-kjv version?)" >&2
    exit 1
  fi
}
check "$tmp/train.txt" 125225bd239689bf5395e48d4e5e7eef
check "$tmp/test.txt" a7849d90c8a94dc8a31b170a37cb6d8e

mv "$tmp/train.txt" "$tmp/test.txt" "$tmp/train_char.txt" "$tmp/test_char.txt" "$out/"
for s in train test; do
  echo "$out/$s.txt: $(wc -l < "$out/$s.txt") lines, $(wc -w < "$out/$s.txt") tokens" >&2
done
