#!/usr/bin/env bash
# interrupt.sh — nothing is lost when training is interrupted. A mixture on
# 5000 binarised Fashion-MNIST images trains (for minutes) over an existing
# model file; once the JSONL log shows a step:
#   SIGINT  -> exit 130, "interrupted" on stderr, <output>.partial.dgm that
#              `dgm info` loads (with "partial": true), the previous model
#              byte-identical, no temporary file;
#   SIGKILL -> the previous model byte-identical, no partial or temporary file.
# Usage: interrupt.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
fm=/usr/share/datasets/fashion-mnist
[ -f "$fm/train-images-idx3-ubyte.gz" ] || { echo "skip: Fashion-MNIST is not installed (scripts/setup.sh)"; exit 0; }
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0

# The previous model: a quick one on the digits.
cp "$src/configs/digits.json" digits.json
sed -i "s#\.\./data/digits#$src/data/digits#g" digits.json
"$dgm" train --config digits.json --output fm.dgm --quiet || { echo "FAIL cannot train the previous model"; exit 1; }
cp fm.dgm previous.dgm

cat > long.json <<EOF
{"space": {"shape": [28, 28], "levels": 2},
 "data": {"train": "$fm/train-images-idx3-ubyte.gz", "format": "idx", "threshold": 128, "limit": 5000},
 "model": {"type": "mixture", "components": 40},
 "train": {"max_iterations": 100000, "tolerance": 0, "restarts": 1}}
EOF

# start_training LOG: trains in the background and waits (up to 120 s) for the first logged step.
start_training() {
  rm -f "$1"
  "$dgm" train --config long.json --output fm.dgm --log "$1" -t 2 > train.out 2> train.err &
  pid=$!
  for _ in $(seq 1 1200); do
    [ -s "$1" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "FAIL training ended before its first step:"; cat train.err; return 1; }
    sleep 0.1
  done
  echo "FAIL no step logged in 120 s"
  return 1
}

# wait_exit: the exit status of $pid, killing it after 60 s.
wait_exit() {
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL training did not stop within 60 s of the signal"
    kill -9 "$pid"
  fi
  wait "$pid"
  local s=$?
  pid=
  return $s
}

no_temporaries() {
  local left
  left=$(ls -a | grep -E '\.tmp|^\.dgm-' || true)
  [ -z "$left" ] || { echo "FAIL $1: temporary files left: $left"; fail=1; }
}

# ---- SIGINT ----
if start_training int.jsonl; then
  kill -INT "$pid"
  wait_exit
  status=$?
  [ "$status" -eq 130 ] && echo "ok   SIGINT: exit 130" || { echo "FAIL SIGINT: exit $status, expected 130"; cat train.err; fail=1; }
  grep -q "interrupted" train.err && echo "ok   SIGINT: says it was interrupted" ||
    { echo "FAIL SIGINT: no 'interrupted' message:"; cat train.err; fail=1; }
  grep -q "fm.partial.dgm" train.err || { echo "FAIL SIGINT: does not name fm.partial.dgm"; fail=1; }
  if "$dgm" info --json --model fm.partial.dgm > info.json 2> info.err && grep -q '"partial": *true' info.json; then
    echo "ok   SIGINT: fm.partial.dgm loads and is marked partial"
  else
    echo "FAIL SIGINT: fm.partial.dgm does not load as a partial model"; cat info.err; fail=1
  fi
  "$dgm" sample -n 2 --model fm.partial.dgm > /dev/null || { echo "FAIL SIGINT: cannot sample the partial model"; fail=1; }
  cmp -s fm.dgm previous.dgm && echo "ok   SIGINT: previous model byte-identical" ||
    { echo "FAIL SIGINT: the previous model changed"; fail=1; }
  no_temporaries SIGINT
else
  fail=1
fi
rm -f fm.partial.dgm

# ---- SIGKILL ----
if start_training kill.jsonl; then
  sleep 0.5
  kill -9 "$pid"
  wait_exit
  cmp -s fm.dgm previous.dgm && echo "ok   SIGKILL: previous model byte-identical" ||
    { echo "FAIL SIGKILL: the previous model changed"; fail=1; }
  [ -e fm.partial.dgm ] && { echo "FAIL SIGKILL: a partial model appeared"; fail=1; }
  no_temporaries SIGKILL
  "$dgm" info --model fm.dgm > /dev/null || { echo "FAIL SIGKILL: the previous model does not load"; fail=1; }
else
  fail=1
fi
exit $fail
