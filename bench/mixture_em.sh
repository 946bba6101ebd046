#!/usr/bin/env bash
# mixture_em.sh — benchmark of dgm's mixture EM against a plain PyTorch
# implementation of the same EM (bench/mixture_em_torch.py, float32) on
# binarized Fashion-MNIST: K=100, 50 EM iterations, 1 and 2 threads. Reports
# seconds per iteration (median over iterations, then median over repeats),
# test NLL (nats/sample), peak memory (/usr/bin/time -v), and the scoring
# throughput of the independent and mixture models. Runs ours and torch
# interleaved so that a loaded machine affects both alike, and reports process
# CPU seconds per iteration too (all threads), which a loaded machine distorts
# less than wall time. Not run in CI.
#   bench/mixture_em.sh [REPEATS] [ITERATIONS] [COMPONENTS]
#   BUILD=DIR a Release build of this tree to use (default: build-bench, as bench/run.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REPEATS="${1:-3}"
ITERATIONS="${2:-50}"
K="${3:-100}"
DATA=/usr/share/datasets/fashion-mnist
BUILD="${BUILD:-$ROOT/build-bench}"
OUT="$BUILD/results"

# Its own needs, from Debian packages.
need=()
for pkg in python3-torch libopenblas0-pthread python3-numpy time zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"
fi
for f in train-images-idx3-ubyte.gz t10k-images-idx3-ubyte.gz; do
  [[ -f "$DATA/$f" ]] || { echo "mixture_em.sh: missing $DATA/$f" >&2; exit 1; }
done

# The bench program, a target of bench/CMakeLists.txt (Release, -march=native
# as in the main build); build-bench is also bench/run.sh's build.
. "$ROOT/bench/build.sh"
bench_build "$BUILD" mixture_em -- -DDGM_BUILD_TESTS=OFF
mkdir -p "$OUT"
rm -f "$OUT"/*.txt

# run NAME THREADS REP: one timed process, its key=value lines plus peak RSS.
run() {
  local name=$1 threads=$2 rep=$3 file="$OUT/$1-t$2-r$3.txt"
  if [[ $name == dgm ]]; then
    /usr/bin/time -v "$BUILD/bench/mixture_em" "$DATA" "$threads" "$K" "$ITERATIONS" >"$file" 2>"$file.time"
  else
    # OpenBLAS starts its own threads whatever torch.set_num_threads says.
    OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads /usr/bin/time -v /usr/bin/python3 \
      "$ROOT/bench/mixture_em_torch.py" "$DATA" "$threads" "$K" "$ITERATIONS" >"$file" 2>"$file.time"
  fi
  echo "peak_mb=$(awk '/Maximum resident/ {printf "%.0f", $NF / 1024}' "$file.time")" >>"$file"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)  (cores: $(nproc))" >&2
for threads in 1 2; do
  for rep in $(seq "$REPEATS"); do
    echo "threads $threads, repeat $rep/$REPEATS: dgm, torch" >&2
    run dgm "$threads" "$rep"
    run torch "$threads" "$rep"
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# median NAME THREADS KEY: median over repeats of KEY.
median() {
  cat "$OUT/$1-t$2-r"*.txt | awk -F= -v k="$3" '$1 == k {print $2}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo
echo "Mixture EM, binarized Fashion-MNIST (60000 train, 10000 test), K=$K, $ITERATIONS iterations, median of $REPEATS runs"
printf "%-6s %-7s %12s %14s %12s %10s %12s\n" impl threads "s/iter" "cpu s/iter" "test NLL" "peak MB" "fit s"
for threads in 1 2; do
  for name in dgm torch; do
    printf "%-6s %-7s %12s %14s %12s %10s %12s\n" "$name" "$threads" "$(median $name $threads sec_per_iter_median)" \
      "$(median $name $threads cpu_sec_per_iter_median)" \
      "$(median $name $threads test_nll)" "$(median $name $threads peak_mb)" "$(median $name $threads fit_seconds)"
  done
done
echo
printf "%-8s %25s %24s %20s %20s\n" threads "speed-up wall (torch/dgm)" "speed-up cpu (torch/dgm)" "NLL diff (dgm-torch)" "memory (torch/dgm)"
for threads in 1 2; do
  awk -v a="$(median dgm $threads sec_per_iter_median)" -v b="$(median torch $threads sec_per_iter_median)" \
      -v ca="$(median dgm $threads cpu_sec_per_iter_median)" -v cb="$(median torch $threads cpu_sec_per_iter_median)" \
      -v na="$(median dgm $threads test_nll)" -v nb="$(median torch $threads test_nll)" \
      -v ma="$(median dgm $threads peak_mb)" -v mb="$(median torch $threads peak_mb)" -v t="$threads" \
      'BEGIN {printf "%-8s %24.2fx %23.2fx %20.3f %19.2fx\n", t, b / a, cb / ca, na - nb, mb / ma}'
done
echo
echo "Scoring throughput (dgm log_prob, samples/s, median of $REPEATS runs)"
for threads in 1 2; do
  echo "  threads $threads: independent $(median dgm $threads independent_score_per_sec)," \
       "mixture $(median dgm $threads mixture_score_per_sec);" \
       "independent test NLL $(median dgm $threads independent_test_nll)"
done
