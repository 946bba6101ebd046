#!/usr/bin/env bash
# ngram_kjv.sh — the n-gram models on the KJV corpus (issue 5): for the word
# 3- and 5-grams and the char 8-gram, build time (CPU and wall) and peak
# memory (/usr/bin/time -v) of reading the corpus + fitting + saving, model
# file size, single-thread query throughput (tokens/s over the encoded test
# set, </s> included), test perplexity (incl./excl. OOVs) and bits per char,
# and an ARPA round trip of the 5-gram (write, read back, same perplexity).
# Also, per model: load_ms, the wall time of load_model (the tables are
# mapped, not read), and check_ms, the one-time check of the mapped tables at
# their first use (checksums and ids); and for the 5-gram, sampling words/s at
# 1 and 2 threads (4096 sentences each, </s> not counted) and whether the two
# draws are identical (they must be).
#
# Output (stable, parsed by bench/run.sh): the line "load average: ...", a
# table whose first line starts with "model" (column names) and one row per
# model (query_tok/s per wall second, query_cpu_tok/s per CPU second of the
# scoring thread: quote the latter on a shared machine), the line "sampling word5 words/s 1t X 2t Y identical yes|no cores_used_2t C
# words_per_cpu_s_1t Z" (C: CPU seconds per wall second of the 2-thread run), and
# the ARPA round trip line. Every figure is also in $BUILD/bench-ngram/NAME.json.
#
#   bench/ngram_kjv.sh [BUILD_DIR]     # default build; run from the repo root
#   bench/ngram_kjv.sh big [BUILD_DIR] [BUDGET_MB] [COPIES]
#
# big: the word 5-gram built in memory (the default budget) and within
# model.build_memory_mb = BUDGET_MB (default 16), which spills counts to a
# temporary file; first on the KJV, then on COPIES (default 31) copies of the
# KJV training text concatenated (25.6 M words, in a temporary folder):
# build CPU and wall time and peak memory (/usr/bin/time -v), the number of
# spilled sections, and whether the two model files are identical (cmp).
# The concatenation has the KJV's n-gram types: counting and merging run at
# 25 M tokens, the growth of the types with the corpus does not. Output: one
# line "big CORPUS TOKENS budget_MB cpu_s wall_s peak_MB sections identical" a
# build (identical compares with the in-memory build of the same corpus).
#
# KenLM is not packaged by Debian (apt-cache policy kenlm python3-kenlm shows
# nothing), so the KenLM side is the reference figures from the issues:
#   word 3-gram: perplexity 45.568 incl. OOVs, 43.557 excl. (issue 5)
#   word 5-gram: 38.087 / 36.387; lmplz 0.9 s CPU, 230 MB peak (issue 5)
#   419 OOV tokens of 95,381 scored tokens.
#   issue 13: KenLM probing query 8.65 M tokens/s (KJV 5-gram, one thread),
#   load 0.004 s (mmap); lmplz 28.3 s, 1.2 GB on a 25 M-word corpus.
# Timings are only meaningful on an otherwise idle machine.
set -euo pipefail

mode=table
if [ "${1:-}" = big ]; then
  mode=big
  shift
fi
build="${1:-build}"
out="$build/bench-ngram"
mkdir -p "$out"

if apt-cache policy kenlm python3-kenlm 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  echo "note: a kenlm Debian package exists now; this script still compares against the issue's figures" >&2
fi
[ -f data/kjv/train.txt ] && [ -f data/kjv/test.txt ] || scripts/prepare_kjv.sh data/kjv
# bench/CMakeLists.txt: the tool gets the library's compile options and link line.
. bench/build.sh
bench_build "$build" ngram_tool
tool="$build/bench/ngram_tool"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$mode" = big ]; then
  budget="${2:-16}"
  copies="${3:-31}"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  for ((i = 0; i < copies; ++i)); do cat data/kjv/train.txt; done > "$work/train.txt"
  cp data/kjv/test.txt "$work/test.txt"
  sed -e 's|"\.\./data/kjv/train.txt"|"'"$work"'/train.txt"|' -e 's|"\.\./data/kjv/test.txt"|"'"$work"'/test.txt"|' \
    configs/kjv-word5.json > "$work/big-word5.json"
  printf '%-4s %-10s %11s %9s %8s %8s %8s %8s %9s\n' big corpus tokens budget_MB cpu_s wall_s peak_MB sections identical
  for corpus in kjv big; do
    cfg=configs/kjv-word5.json
    [ "$corpus" = big ] && cfg="$work/big-word5.json"
    for b in default "$budget"; do
      set_args=()
      [ "$b" = default ] || set_args=(--set "model.build_memory_mb=$b")
      model="$work/$corpus-$b.dgm"
      /usr/bin/time -v -o "$work/$corpus-$b.time" "$tool" "$cfg" --save "$model" --build-only 1 "${set_args[@]}" \
        > "$work/$corpus-$b.json" 2> "$work/$corpus-$b.log" || { cat "$work/$corpus-$b.log" >&2; exit 1; }
      cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u + s}' "$work/$corpus-$b.time")
      wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); t = 0; for (i = 1; i <= n; ++i) t = t * 60 + p[i]; printf "%.2f", t}' "$work/$corpus-$b.time")
      peak=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$work/$corpus-$b.time")
      tokens=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["train_tokens"])' "$work/$corpus-$b.json")
      sections=$(sed -n 's/^ngram: counted in \([0-9]*\) sections.*/\1/p' "$work/$corpus-$b.log")
      same=-
      [ "$b" = default ] || { cmp -s "$work/$corpus-default.dgm" "$model" && same=yes || same=no; }
      printf '%-4s %-10s %11s %9s %8s %8s %8s %8s %9s\n' big "$corpus" "$tokens" "$b" "$cpu" "$wall" "$peak" "${sections:-1}" "$same"
    done
    grep -h "^ngram: counted" "$work/$corpus-$budget.log" | sed 's/^/note: /' || true
    rm -f "$work/$corpus-default.dgm" "$work/$corpus-$budget.dgm"
  done
  exit 0
fi

printf '%-10s %9s %9s %9s %10s %12s %11s %11s %9s %8s %8s %15s\n' model cpu_s wall_s peak_MB file_MB query_tok/s ppl ppl_no_oov bits/char load_ms check_ms query_cpu_tok/s
for name in word3 word5 char8; do
  cfg="configs/kjv-$name.json"
  model="$out/kjv-$name.dgm"
  /usr/bin/time -v -o "$out/$name.time" "$tool" "$cfg" --save "$model" --build-only 1 \
    > "$out/$name.build.json" 2> "$out/$name.build.log"
  samples=0
  [ "$name" = word5 ] && samples=4096
  "$tool" "$cfg" --load "$model" --sample "$samples" > "$out/$name.json" 2>/dev/null
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u + s}' "$out/$name.time")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); t = 0; for (i = 1; i <= n; ++i) t = t * 60 + p[i]; printf "%.2f", t}' "$out/$name.time")
  peak=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$out/$name.time")
  size=$(stat -c %s "$model" | awk '{printf "%.1f", $1 / 1048576}')
  /usr/bin/python3 - "$out/$name.json" "$name" "$cpu" "$wall" "$peak" "$size" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["test"]
print("%-10s %9s %9s %9s %10s %12.0f %11.5f %11.5f %9.5f %8.2f %8.2f %15.0f" % (sys.argv[2], sys.argv[3], sys.argv[4],
      sys.argv[5], sys.argv[6], d["query_tokens_per_second"], t["perplexity"], t["perplexity_excluding_unknown"],
      t["bits_per_char"], 1000 * d["model_load_seconds"], 1000 * d["first_use_seconds"],
      d["query_tokens_per_cpu_second"]))
EOF
done
/usr/bin/python3 - "$out/word5.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("sampling word5 words/s 1t %.0f 2t %.0f identical %s cores_used_2t %.2f words_per_cpu_s_1t %.0f" % (
      d["sample_words_per_second_1t"], d["sample_words_per_second_2t"],
      "yes" if d["sample_identical_across_threads"] else "no", d["sample_cores_used_2t"],
      d["sample_words_per_cpu_second_1t"]))
EOF
grep -h "cannot estimate" "$out"/*.build.log | sed 's/^/note: /' || true

# ARPA round trip of the 5-gram.
"$tool" configs/kjv-word5.json --load "$out/kjv-word5.dgm" --arpa "$out/kjv-word5.arpa" \
  > "$out/word5.arpa-write.json" 2>/dev/null
"$tool" configs/kjv-word5.json --read-arpa "$out/kjv-word5.arpa" > "$out/word5.arpa-read.json" 2>/dev/null
/usr/bin/python3 - "$out/word5.arpa-write.json" "$out/word5.arpa-read.json" "$out/kjv-word5.arpa" <<'EOF'
import json, os, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
print("ARPA round trip (5-gram): write %.2f s, %.1f MB; read %.2f s; perplexity %.6f -> %.6f" % (
    a["arpa_seconds"], os.path.getsize(sys.argv[3]) / 1048576, b["fit_seconds"],
    a["test"]["perplexity"], b["test"]["perplexity"]))
EOF
