#!/usr/bin/env bash
# transformer_kjv.sh — the transformer on the KJV (issue 12 figures) through
# the command line: trains each config with the validation curve in
# $out/NAME.train.jsonl, evaluates the test split (bits per char, perplexity
# with and without OOVs) into $out/NAME.eval.json, samples five verses
# continuing "and god said", and records CPU time and peak memory of training
# (/usr/bin/time -v) in $out/NAME.time.
#
#   bench/transformer_kjv.sh [BUILD_DIR] [CONFIGS...]
#   THREADS=2 bench/transformer_kjv.sh build configs/kjv-char-transformer.json
# Reference figures (bench/ngram_kjv.sh): char 8-gram 1.340 bits/char; word
# 5-gram perplexity 38.09 (incl. OOVs). On a shared machine quote CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/kjv-char-transformer.json configs/kjv-word-transformer.json)
out="$build/bench-transformer-kjv"
mkdir -p "$out"
[ -f data/kjv/train.txt ] || scripts/prepare_kjv.sh data/kjv
. bench/build.sh
bench_build "$build" dgm
dgm="$build/dgm"
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .json)
  echo "$name: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -v -o "$out/$name.time" "$dgm" train --config "$cfg" -o "$out/$name.dgm" \
    --log "$out/$name.train.jsonl" -t "${THREADS:-2}" -q
  "$dgm" eval -m "$out/$name.dgm" -n 0 --json -t "${THREADS:-2}" > "$out/$name.eval.json"
  "$dgm" sample -m "$out/$name.dgm" -n 5 --prompt "and god said" > "$out/$name.samples.txt"
  cat "$out/$name.eval.json" "$out/$name.samples.txt"
  grep -E "User time|System time|Elapsed|Maximum resident" "$out/$name.time"
done
