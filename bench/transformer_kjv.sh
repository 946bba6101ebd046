#!/usr/bin/env bash
# transformer_kjv.sh — the transformer on the KJV (issue 12 figures), through
# the library while `dgm train` reaches text only through ngram: builds
# bench/transformer_text.cc against libdgm and trains + evaluates each config,
# writing the validation curve and the summary (test bits per char, test
# perplexity with and without OOVs, samples continuing a prompt) as JSON lines
# to $out/NAME.jsonl and the peak memory / CPU time to $out/NAME.time.
#
#   bench/transformer_kjv.sh [BUILD_DIR] [CONFIGS...]
#   bench/transformer_kjv.sh build configs/kjv-char-transformer.json
# Reference figures (bench/ngram_kjv.sh): char 8-gram 1.340 bits/char; word
# 5-gram perplexity 38.09 (incl. OOVs).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(configs/kjv-char-transformer.json configs/kjv-word-transformer.json)
out="$build/bench-transformer-kjv"
mkdir -p "$out"
[ -f data/kjv/train.txt ] || scripts/prepare_kjv.sh data/kjv
cmake --build "$build" --target dgmlib -j2 >/dev/null
extra=()
if [ "$(c++ -dumpversion | cut -d. -f1)" -lt 13 ]; then extra=(-fno-tree-slp-vectorize); fi  # as CMakeLists.txt
c++ -O3 -march=native "${extra[@]}" -std=c++17 -Wall -Wextra -Iinclude bench/transformer_text.cc "$build/libdgm.a" \
  -lz -lpthread -o "$out/transformer_text"
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .json)
  echo "$name: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -v -o "$out/$name.time" "$out/transformer_text" "$cfg" --threads "${THREADS:-2}" \
    --save "$out/$name.dgm" --prompt "and god said" -n 5 > "$out/$name.jsonl"
  tail -1 "$out/$name.jsonl"
  grep -E "User time|System time|Elapsed|Maximum resident" "$out/$name.time"
done
