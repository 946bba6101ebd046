#!/usr/bin/env bash
# resume.sh — an interrupted run continues to the same bytes. For the mixture
# (EM with restarts), NADE, MADE and PixelCNN on small Fashion-MNIST subsets,
# with a checkpoint after every epoch or iteration: a run is stopped (kill -9 at
# a random moment after its first checkpoint, or Ctrl-C), `dgm train --resume`
# continues it on another thread count, and the final model file must equal,
# byte for byte, that of a run never stopped (--reproducible: no times in the
# record). NADE is stopped twice (its resumed run killed again). The finished
# run removes its checkpoint.
# Usage: resume.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
fm=/usr/share/datasets/fashion-mnist
[ -f "$fm/train-images-idx3-ubyte.gz" ] || { echo "skip: Fashion-MNIST is not installed (scripts/setup.sh)"; exit 0; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
# In a checked build (DGM_CHECKED_BUILD, set by CTest under -DDGM_SANITIZE=ON)
# every run is about 9x slower: a third of the data there, the same checks.
div=1
[ -n "${DGM_CHECKED_BUILD:-}" ] && div=3

cat > mixture.json <<JSON
{"space": {"shape": [28, 28], "levels": 2},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "format": "idx", "threshold": 128, "limit": $((3000 / div)), "validation_count": $((500 / div))},
 "model": {"type": "mixture", "components": 20},
 "train": {"max_iterations": 25, "restarts": 3, "tolerance": 0, "checkpoint_every": 1}}
JSON
cat > nade.json <<JSON
{"space": {"shape": [28, 28], "levels": 2},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "format": "idx", "threshold": 128, "limit": $((1500 / div)), "validation_count": $((300 / div))},
 "model": {"type": "nade", "hidden": 40},
 "train": {"epochs": 12, "batch_size": 50, "checkpoint_every": 1}}
JSON
cat > made.json <<JSON
{"space": {"shape": [28, 28], "levels": 2},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "format": "idx", "threshold": 128, "limit": $((1500 / div)), "validation_count": $((300 / div))},
 "model": {"type": "made", "hidden": [200], "ordering": "random", "masks": 2},
 "train": {"epochs": 12, "batch_size": 50, "checkpoint_every": 1}}
JSON
cat > pixelcnn.json <<JSON
{"space": {"shape": [1, 28, 28], "levels": 256, "labels": 10},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "train_labels": "$fm/train-labels-idx1-ubyte.gz", "format": "idx", "limit": $((300 / div)), "validation_count": $((60 / div))},
 "model": {"type": "pixelcnn", "channels": 8, "layers": 1, "kernel": 3, "first_kernel": 5, "mixtures": 2},
 "train": {"epochs": 6, "batch_size": 16, "learning_rate": 0.005, "lr_decay": 0.9, "checkpoint_every": 1}}
JSON

# interrupt NAME SIGNAL CMD...: runs CMD in the background, sends SIGNAL at a
# random moment (0-0.1 s) after NAME.partial.dgm changes; returns CMD's status.
interrupt() {
  local name=$1 sig=$2
  shift 2
  local before
  before=$(stat -c %Y.%s "$name.partial.dgm" 2>/dev/null || echo none)
  "$@" 2> "$name.err" &
  pid=$!
  for _ in $(seq 1 3000); do
    [ "$(stat -c %Y.%s "$name.partial.dgm" 2>/dev/null || echo none)" != "$before" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  sleep "0.0$((RANDOM % 10))"
  kill -"$sig" "$pid" 2>/dev/null
  wait "$pid"
  local s=$?
  pid=
  return $s
}

for name in mixture nade made pixelcnn; do
  # (Without checkpoints: when to checkpoint must not change the model.)
  "$dgm" train -c "$name.json" -o "$name-ref.dgm" --reproducible -q -t 2 --set train.checkpoint_every=off ||
    { echo "FAIL $name: the uninterrupted run failed"; fail=1; continue; }
  rm -f "$name.partial.dgm" "$name.dgm"
  if [ "$name" = mixture ] || [ "$name" = pixelcnn ]; then sig=INT; else sig=KILL; fi
  # Ctrl-C runs are not --quiet: they must say how to continue.
  if [ "$sig" = INT ]; then quiet=(); else quiet=(-q); fi
  interrupt "$name" "$sig" "$dgm" train -c "$name.json" -o "$name.dgm" --reproducible "${quiet[@]}" -t 2
  status=$?
  if [ -e "$name.dgm" ]; then
    echo "FAIL $name: the run finished before SIG$sig reached it (machine too slow for this test?)"; fail=1; continue
  fi
  [ -e "$name.partial.dgm" ] || { echo "FAIL $name: no checkpoint after SIG$sig"; cat "$name.err"; fail=1; continue; }
  if [ "$sig" = INT ]; then
    [ "$status" -eq 130 ] || { echo "FAIL $name: exit $status after SIGINT, expected 130"; cat "$name.err"; fail=1; }
    grep -q "dgm train --resume $name.partial.dgm" "$name.err" ||
      { echo "FAIL $name: SIGINT does not say how to resume"; cat "$name.err"; fail=1; }
  fi
  "$dgm" sample -n 2 --model "$name.partial.dgm" > /dev/null ||
    { echo "FAIL $name: the checkpoint is not a usable model"; fail=1; }
  if [ "$name" = nade ]; then  # stopped a second time, in its resumed run
    interrupt "$name" KILL "$dgm" train --resume "$name.partial.dgm" --reproducible -q -t 1
    [ -e "$name.dgm" ] && { echo "FAIL $name: the resumed run finished before the second kill"; fail=1; }
  fi
  "$dgm" train --resume "$name.partial.dgm" --reproducible -q -t 1 2> "$name.err" ||
    { echo "FAIL $name: resume failed:"; cat "$name.err"; fail=1; continue; }
  if cmp -s "$name.dgm" "$name-ref.dgm"; then
    echo "ok   $name: resumed after SIG$sig, byte-identical to the uninterrupted run"
  else
    echo "FAIL $name: the resumed run's model differs from the uninterrupted run's"; fail=1
  fi
  [ -e "$name.partial.dgm" ] && { echo "FAIL $name: the checkpoint was not removed after the run completed"; fail=1; }
done

# A run that completes removes its checkpoints.
"$dgm" train -c made.json -o made-plain.dgm -q -t 2 || { echo "FAIL made: plain run"; fail=1; }
[ -e made-plain.partial.dgm ] && { echo "FAIL made: the finished run left its checkpoint"; fail=1; }

# Without --reproducible the record holds the times of both sessions.
rm -f nade.partial.dgm nade.dgm
interrupt nade KILL "$dgm" train -c nade.json -o nade.dgm -q -t 2
"$dgm" train --resume nade.partial.dgm -q -t 1 || { echo "FAIL nade: resume without --reproducible"; fail=1; }
"$dgm" info --model nade.dgm --json > info.json
grep -q '"sessions"' info.json && grep -q '"cpu_seconds"' info.json ||
  { echo "FAIL the record has no sessions or CPU time"; fail=1; }
"$dgm" info --model nade.dgm > info.txt
grep -q "2 sessions" info.txt && grep -q "best epoch" info.txt ||
  { echo "FAIL dgm info does not report the record (two sessions, the best epoch):"; cat info.txt; fail=1; }
exit $fail
