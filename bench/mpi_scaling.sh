#!/usr/bin/env bash
# mpi_scaling.sh — seconds per EM iteration (mixture K=100, binarized
# Fashion-MNIST) and per MADE epoch at P = 1 and P = 2 processes, one thread
# each, interleaved (P=1, P=2, P=1, ...), with the load before each run. Each
# run's JSONL log gives the per-iteration times (median printed); /usr/bin/time
# gives wall and CPU (user + sys, all processes). Measures, never asserts.
# Usage: bench/mpi_scaling.sh [ROUNDS] (from the repository root, after a build with MPI)
set -uo pipefail
rounds=${1:-3}
. bench/build.sh
bench_build build dgm || exit 1
dgm=$PWD/build/dgm
cfg=$PWD/configs
out=$(mktemp -d)
mpi=(mpirun -q --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
median_step() {  # the median interval between log lines ('seconds' counts from the fit's start)
  /usr/bin/python3 -c "
import json, sys
s = [0.0] + [json.loads(l)['seconds'] for l in open(sys.argv[1])]
d = sorted(b - a for a, b in zip(s, s[1:]))
print('%.3f' % d[len(d) // 2] if d else '-')" "$1"
}
run() {  # run NAME P ARGS...
  local name=$1 P=$2
  shift 2
  local pre=()
  [ "$P" -gt 1 ] && pre=("${mpi[@]}" -np "$P")
  echo "$(uptime | sed 's/.*load average/load/')"
  /usr/bin/time -f "$name P=$P wall %e s, cpu %U+%S s" nice -n 5 "${pre[@]}" "$dgm" train -t 1 -q \
    --set train.checkpoint_every=off --log "$out/$name-$P.jsonl" -o "$out/$name-$P.dgm" "$@"
  echo "$name P=$P median step $(median_step "$out/$name-$P.jsonl") s"
}
for r in $(seq 1 "$rounds"); do
  for P in 1 2; do
    run em "$P" -c "$cfg/fmnist-mixture.json" --set train.max_iterations=10 --set train.tolerance=0
  done
done
for r in $(seq 1 "$rounds"); do
  for P in 1 2; do
    run made "$P" -c "$cfg/fmnist-made.json" --set train.epochs=1
  done
done
rm -rf "$out"
