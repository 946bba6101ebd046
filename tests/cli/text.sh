#!/usr/bin/env bash
# text.sh — end to end for text models on a small generated corpus: train an
# n-gram from a config, score lines, eval perplexity, sample with a prompt,
# export ARPA and score with the ARPA file: the same numbers.
# Usage: text.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
for i in $(seq 1 60); do
  echo "the cat sat on the mat number $((i % 7))"
  echo "a dog sat on the log number $((i % 5))"
  echo "the dog saw the cat"
done > train.txt
printf 'the cat sat on the log\nthe bird sat on the mat\n' > test.txt
cat > cfg.json <<'JSON'
{"space": {"shape": [64], "variable_length": true},
 "data": {"train": "train.txt", "test": "test.txt", "format": "text", "tokenizer": "word"},
 "model": {"type": "ngram", "order": 3}, "output": "lm.dgm"}
JSON
"$dgm" train --config cfg.json --quiet || { echo "FAIL train"; fail=1; }
"$dgm" score -m lm.dgm test.txt > scores.txt || { echo "FAIL score"; fail=1; }
[ "$(wc -l < scores.txt)" -eq 2 ] || { echo "FAIL score: expected 2 lines"; cat scores.txt; fail=1; }
# columns: source, log P, bits/token, tokens (</s> included), OOVs; "bird" is the one OOV.
awk -F'\t' 'NR==2 && ($4 != 7 || $5 != 1) { bad = 1 } $2 >= 0 { bad = 1 } END { exit bad }' scores.txt ||
  { echo "FAIL score columns"; cat scores.txt; fail=1; }
"$dgm" eval -m lm.dgm --json > eval.json || { echo "FAIL eval"; fail=1; }
python3 -c 'import json,sys; j=json.load(open("eval.json")); assert j["perplexity"] > 1, j' 2>/dev/null ||
  grep -q perplexity eval.json || { echo "FAIL eval output"; cat eval.json; fail=1; }
"$dgm" sample -m lm.dgm -n 5 --prompt "the cat" --seed 2 > s.txt || { echo "FAIL sample"; fail=1; }
[ "$(grep -c '^the cat' s.txt)" -eq 5 ] || { echo "FAIL sample: lines do not continue the prompt"; cat s.txt; fail=1; }
"$dgm" export -m lm.dgm --arpa lm.arpa 2> /dev/null || { echo "FAIL export"; fail=1; }
grep -q '^\\data\\' lm.arpa || { echo "FAIL export: not ARPA"; fail=1; }
"$dgm" score -m lm.arpa test.txt > arpa_scores.txt || { echo "FAIL score with ARPA"; fail=1; }
paste scores.txt arpa_scores.txt | awk -F'\t' '{ d = $2 - $7; if (d < 0) d = -d; if (d > 1e-6) bad = 1 } END { exit bad }' ||
  { echo "FAIL ARPA scores differ"; paste scores.txt arpa_scores.txt; fail=1; }
exit $fail
