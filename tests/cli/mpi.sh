#!/usr/bin/env bash
# mpi.sh — `mpirun -np P dgm train` (a build with -DDGM_MPI=ON) on one machine:
#   * determinism: the digits mixture, NADE and a transformer with dropout on
#     the digits, an n-gram model on a generated corpus and (when installed) a
#     Fashion-MNIST subset mixture give model files byte-identical to one
#     process for P = 2 and 3 (--reproducible);
#   * a resumed run composes with MPI: a one-process checkpoint resumed on 3
#     ranks ends in the bytes of the uninterrupted run;
#   * only rank 0 speaks, logs (every log line records P) and writes;
#   * faults: a bad record in the last rank's part, a missing file, a rank
#     killed with SIGKILL and a rank stopped with SIGSTOP (a hang, caught by
#     --mpi-timeout) each end the job with one "dgm: error:" line from rank 0
#     and a non-zero status, and leave the previous model file as it was.
# Skips (exit 0) when mpirun is missing or dgm was built without MPI.
# Usage: mpi.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
# Absolute: the script works in a scratch folder (CI passes build/dgm).
dgm=$(realpath "$1")
src=$(realpath "$2")
command -v mpirun > /dev/null || { echo "skip: no mpirun (scripts/setup.sh --mpi)"; exit 0; }
mpi=(mpirun -q --oversubscribe --allow-run-as-root)
tmp=$(mktemp -d)
job=
trap '[ -n "$job" ] && kill -9 "$job" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0

cat > digits.json <<JSON
{"space": {"shape": [5, 5], "levels": 2},
 "data": {"train": "$src/data/digits/skewed.txt", "format": "grid", "test": "$src/data/digits/test.txt",
          "validation_fraction": 0.1},
 "model": {"type": "mixture", "components": 10, "alpha": 0.01},
 "train": {"seed": 1, "max_iterations": 200}}
JSON
# (The output is kept first: under pipefail, grep -q's early exit would make
# the pipeline fail and the skip be missed.)
probe=$("${mpi[@]}" -np 2 "$dgm" train -c digits.json -o probe.dgm -q 2>&1)
if grep -q "built without MPI" <<< "$probe"; then
  echo "skip: this dgm was built without MPI (-DDGM_MPI=ON)"
  exit 0
fi

cat > nade.json <<JSON
{"space": {"shape": [5, 5], "levels": 2},
 "data": {"train": "$src/data/digits/skewed.txt", "format": "grid", "validation_fraction": 0.1},
 "model": {"type": "nade", "hidden": 20},
 "train": {"seed": 3, "epochs": 15, "batch_size": 50, "learning_rate": 0.01}}
JSON
cat > transformer.json <<JSON
{"space": {"shape": [5, 5], "levels": 2},
 "data": {"train": "$src/data/digits/skewed.txt", "format": "grid", "validation_fraction": 0.1},
 "model": {"type": "transformer", "layers": 1, "heads": 2, "width": 16, "context": 25, "dropout": 0.1},
 "train": {"seed": 5, "epochs": 3, "batch_size": 64, "learning_rate": 0.01}}
JSON
# A corpus of 3000 lines of words (6 distinct), written by awk's seeded rand().
awk 'BEGIN { srand(7); for (i = 0; i < 3000; i++) { n = 1 + int(rand() * 9); s = "";
       for (j = 0; j < n; j++) s = s (j ? " " : "") "w" int(rand() * rand() * 6); print s } }' > corpus.txt
cat > ngram.json <<JSON
{"space": {"shape": [16], "variable_length": true},
 "data": {"train": "corpus.txt", "format": "text", "tokenizer": "word", "split": "whitespace"},
 "model": {"type": "ngram", "order": 4}}
JSON
configs=(digits nade transformer ngram)
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then
  cat > fmnist.json <<JSON
{"space": {"shape": [28, 28], "levels": 2},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "format": "idx", "threshold": 128, "limit": 6000,
          "validation_count": 1000, "test": "$fm/t10k-images-idx3-ubyte.gz"},
 "model": {"type": "mixture", "components": 40},
 "train": {"max_iterations": 25, "tolerance": 0, "checkpoint_every": 1}}
JSON
  configs+=(fmnist)
fi

for name in "${configs[@]}"; do
  "$dgm" train -c "$name.json" -o "$name-1.dgm" --reproducible -q -t 1 ||
    { echo "FAIL $name: the one-process run failed"; fail=1; continue; }
  for P in 2 3; do
    "${mpi[@]}" -np "$P" "$dgm" train -c "$name.json" -o "$name-$P.dgm" --reproducible -t 1 --log "$name-$P.jsonl" \
      2> "$name-$P.err" || { echo "FAIL $name: mpirun -np $P failed:"; cat "$name-$P.err"; fail=1; continue; }
    if cmp -s "$name-1.dgm" "$name-$P.dgm"; then
      echo "ok   $name: $P processes, byte-identical to one"
    else
      echo "FAIL $name: the model of $P processes differs from one process's"; fail=1
    fi
    [ "$(grep -c "model written" "$name-$P.err")" -eq 1 ] ||
      { echo "FAIL $name: not exactly one rank reported (stderr below)"; cat "$name-$P.err"; fail=1; }
    grep -q "on $P MPI processes" "$name-$P.err" || { echo "FAIL $name: the summary does not record P"; fail=1; }
    if [ -s "$name-$P.jsonl" ]; then
      grep -vq "\"processes\":$P" "$name-$P.jsonl" && { echo "FAIL $name: a log line without \"processes\":$P"; fail=1; }
    elif [ "$name" != ngram ]; then
      echo "FAIL $name: no training log"; fail=1
    fi
  done
done

# A checkpoint of one process (killed with SIGKILL once it has written one)
# resumed on 3 ranks. (tests/models/contract_test.cc resumes every checkpoint
# of every kind on 2 ranks; this is the command line's path.)
if [ -f fmnist.json ]; then
  "$dgm" train -c fmnist.json -o ck.dgm --reproducible -q -t 1 &
  job=$!
  for _ in $(seq 1 1500); do [ -e ck.partial.dgm ] && break; sleep 0.02; done
  sleep 0.3
  kill -9 "$job" 2> /dev/null
  wait "$job" 2> /dev/null
  job=
  if [ -e ck.dgm ] || [ ! -e ck.partial.dgm ]; then
    echo "skip resume: the run was not stopped between two checkpoints (this machine is too fast or too slow)"
  else
    "${mpi[@]}" -np 3 "$dgm" train --resume ck.partial.dgm --reproducible -q -t 1 2> resume.err ||
      { echo "FAIL resume over 3 ranks:"; cat resume.err; fail=1; }
    if cmp -s ck.dgm fmnist-1.dgm; then
      echo "ok   resume: a one-process checkpoint resumed on 3 ranks gives the uninterrupted bytes"
    else
      echo "FAIL resume: the resumed model differs from the uninterrupted run's"; fail=1
    fi
  fi
fi

# fault NAME STATUS_MIN GREP CMD...: the command fails (status >= 1), rank 0
# prints exactly one error line matching GREP, and previous.dgm is unchanged.
cp digits-1.dgm previous.dgm
before=$(md5sum < previous.dgm)
fault() {
  local name=$1 pattern=$2
  shift 2
  "$@" > "$name.out" 2> "$name.err"
  local s=$?
  local lines
  lines=$(grep -c "^dgm: error:" "$name.err")
  if [ "$s" -ne 0 ] && [ "$lines" -eq 1 ] && grep -q "$pattern" "$name.err" && [ "$(md5sum < previous.dgm)" = "$before" ]; then
    echo "ok   $name: exit $s, one error line from rank 0, the previous model intact"
  else
    echo "FAIL $name: exit $s, $lines error lines (stderr below)"; cat "$name.err"; fail=1
  fi
}
awk 'NR == 2950 { print "0120100101010101010101010"; next } { print }' \
  <(for i in $(seq 1 3000); do echo 0101010101010101010101010; done) > bad.txt
cat > bad.json <<JSON
{"space": {"shape": [5, 5], "levels": 2}, "data": {"train": "bad.txt", "format": "lines"},
 "model": {"type": "independent"}}
JSON
fault bad-record "rank 2: .*bad.txt:2950" "${mpi[@]}" -np 3 "$dgm" train -c bad.json -o previous.dgm -q
sed "s#$src/data/digits/skewed.txt#absent.txt#" digits.json > absent.json
fault missing-file "absent.txt" "${mpi[@]}" -np 2 "$dgm" train -c absent.json -o previous.dgm -q

# A long run (NADE for a million epochs on the digits): rank 1 is killed, or
# stopped (a hang), once training is under way.
# The config's path is this test's own folder, so that signal_rank1 finds
# this job's ranks and never those of another run of the test on the machine.
long=$tmp/long.json
sed 's/"epochs": 15/"epochs": 1000000, "patience": 1000000/' nade.json > "$long"
# signal_rank1 SIG: waits for the job's rank 1, then sends it SIG.
signal_rank1() {
  local sig=$1 rank1=
  for _ in $(seq 1 500); do
    for p in $(pgrep -f -x ".*dgm train -c $long .*"); do
      tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && rank1=$p
    done
    [ -n "$rank1" ] && break
    sleep 0.02
  done
  sleep 1
  [ -n "$rank1" ] && kill -"$sig" "$rank1"
}
signal_rank1 KILL &
fault killed-rank "ended by the MPI launcher" "${mpi[@]}" -np 2 "$dgm" train -c "$long" -o previous.dgm -q
wait
signal_rank1 STOP &
start=$SECONDS
fault hung-rank "no answer from the other ranks within 3 s" \
  "${mpi[@]}" -np 2 "$dgm" train -c "$long" -o previous.dgm -q --mpi-timeout 3
wait
[ $((SECONDS - start)) -lt 60 ] || { echo "FAIL hung-rank: the timeout took $((SECONDS - start)) s"; fail=1; }
exit $fail
