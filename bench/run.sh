#!/usr/bin/env bash
# run.sh — every speed comparison of dgm against its reference, in one table:
# each neural model against its PyTorch reference (bench/neural_torch.py,
# bench/pixelcnn_torch.py; Debian's python3-torch on OpenBLAS), mixture EM
# against PyTorch (bench/mixture_em.cc against bench/mixture_em_torch.py), and
# the n-gram against the KenLM figures the issue states (bench/ngram_kjv.sh,
# kept by the n-gram work; KenLM is not in Debian).
# Everything at one thread. dgm and the reference run in turn, repeat after
# repeat, so a loaded machine slows both alike; figures are CPU seconds of the
# process (user + system inside the timed section), medians over the
# repeats, and the peak memory of each process (/usr/bin/time -v). Writes
# bench/results/latest.json and prints the table (markdown) with the CPU model
# and the load (bench/run_report.py; with the CPU family and the OpenBLAS kernels PyTorch runs). Not part of the build or of CI. On a
# shared machine run it under `nice`: CPU time is what it compares.
#
#   bench/run.sh [--quick] [--repeats 3] [--only neural|pixelcnn|mixture|ngram]
#   --quick   shorter work: MADE/FVSBN 100 minibatches instead of an epoch,
#             fewer images scored and sampled, 5 EM iterations instead of 20
#   --only P  run one part again; the table keeps the other parts' rows from
#             bench/results/latest.json, each with the run it came from
#   BUILD=DIR a Release build of this tree to use (default: build-bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
work=$build/run
repeats=3 only="" quick=0
usage() { echo "usage: $0 [--quick] [--repeats N] [--only neural|pixelcnn|mixture|ngram]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --repeats) [ $# -ge 2 ] || usage; repeats=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    *) usage ;;
  esac
done
[[ $repeats =~ ^[1-9][0-9]*$ ]] || usage
case "$only" in ""|neural|pixelcnn|mixture|ngram) ;; *) usage ;; esac
PY=/usr/bin/python3
fm=/usr/share/datasets/fashion-mnist

# What the comparisons need, from Debian (OpenBLAS: without it PyTorch's
# matrix products run on the reference BLAS, ten times slower).
need=()
for pkg in python3-torch python3-numpy libopenblas0-pthread time dataset-fashion-mnist zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

[ ! -f "$build/CMakeCache.txt" ] || grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
  { echo "run.sh: $build is not a Release build" >&2; exit 1; }
# The drivers are targets of the build (bench/CMakeLists.txt, bench/build.sh),
# so they get the library's compile options and link line; ngram_kjv.sh builds its own.
tools=()
case "$only" in
  "") tools=(models_bench mixture_em) ;;
  neural|pixelcnn) tools=(models_bench) ;;
  mixture) tools=(mixture_em) ;;
esac
. "$root/bench/build.sh"
if ((${#tools[@]})); then
  bench_build "$build" "${tools[@]}" -- -DDGM_BUILD_TESTS=OFF
fi
# A run of one part (--only) clears that part's results only; the table keeps
# the other parts' rows from bench/results/latest.json (run_report.py --only).
if [ -z "$only" ]; then
  rm -rf "$work"
else
  case "$only" in
    neural) rm -f "$work"/*-nade-* "$work"/*-made-* "$work"/*-fvsbn-* ;;
    pixelcnn) rm -rf "$work"/*pixelcnn* ;;
    mixture) rm -f "$work"/*-mixture-* ;;
    ngram) rm -f "$work"/ngram* ;;
  esac
fi
mkdir -p "$work" "$root/bench/results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# $(date -u +%FT%TZ), $(nproc) cores, load $load_before, nice $(nice)" >&2

# timed NAME CMD...: runs CMD at one thread under /usr/bin/time -v; NAME.json
# is its last output line that is a JSON object, or else its key=value lines,
# with "peak_mb" (the maximum resident set) added.
timed() {
  local name=$1
  shift
  echo "  $name" >&2
  local status=0
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/time -v -o "$work/$name.time" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" || status=$?
  ((status == 0)) || echo "run.sh: $name exited with status $status: $(tail -2 "$work/$name.err")" >&2
  $PY "$root/bench/run_report.py" --collect "$work/$name.out" "$work/$name.time" "$work/$name.json" || true
  return $status
}

mb=$build/bench/models_bench
tn=("$PY" "$root/bench/neural_torch.py")
tp=("$PY" "$root/bench/pixelcnn_torch.py")
if ((quick)); then
  nade_steps=20 nade_score=2000 mf_train=(--steps 100) mf_torch=(--max-batches 100) mf_score=5000
  pcnn_steps=10 pcnn_sample=32 em_iterations=5
else
  nade_steps=50 nade_score=10000 mf_train=(--epoch) mf_torch=() mf_score=10000
  pcnn_steps=20 pcnn_sample=64 em_iterations=20
fi
if [ -z "$only" ] || [ "$only" = neural ]; then
  for r in $(seq "$repeats"); do
    echo "repeat $r/$repeats: NADE, MADE, FVSBN" >&2
    timed "dgm-nade-train-$r" "$mb" --model nade --steps $nade_steps || true
    timed "torch-nade-train-$r" "${tn[@]}" --model nade --epochs 1 --max-batches $nade_steps --score-images 0 --samples 0 || true
    timed "dgm-nade-score-$r" "$mb" --model nade --steps 1 --score $nade_score || true
    timed "torch-nade-score-$r" "${tn[@]}" --model nade --epochs 1 --max-batches 1 --score-images $nade_score --samples 0 || true
    for m in made fvsbn; do
      timed "dgm-$m-train-$r" "$mb" --model "$m" "${mf_train[@]}" || true
      timed "torch-$m-train-$r" "${tn[@]}" --model "$m" --epochs 1 "${mf_torch[@]}" --score-images 0 --samples 0 || true
      timed "dgm-$m-score-$r" "$mb" --model "$m" --steps 1 --score $mf_score --repeat 3 || true
      timed "torch-$m-score-$r" "${tn[@]}" --model "$m" --epochs 1 --max-batches 1 --score-images $mf_score --samples 0 || true
    done
  done
fi
if [ -z "$only" ] || [ "$only" = pixelcnn ]; then
  # The PyTorch PixelCNN loads dgm's parameters (after 20 training steps) and
  # must give dgm's log-likelihoods to 1e-6 relative (exit status 1 otherwise).
  mkdir -p "$work/pixelcnn-params"
  timed pixelcnn-export "$mb" --model pixelcnn --steps 20 --export "$work/pixelcnn-params" || true
  timed pixelcnn-check "${tp[@]}" --check "$work/pixelcnn-params" || true
  for r in $(seq "$repeats"); do
    echo "repeat $r/$repeats: PixelCNN" >&2
    timed "dgm-pixelcnn-train-$r" "$mb" --model pixelcnn --steps $pcnn_steps || true
    timed "torch-pixelcnn-train-$r" "${tp[@]}" --steps $pcnn_steps || true
    timed "dgm-pixelcnn-sample-$r" "$mb" --model pixelcnn --steps 1 --sample $pcnn_sample || true
    timed "torch-pixelcnn-sample-$r" "${tp[@]}" --sample $pcnn_sample || true
  done
fi
if [ -z "$only" ] || [ "$only" = mixture ]; then
  for r in $(seq "$repeats"); do
    echo "repeat $r/$repeats: mixture EM, K=100, $em_iterations iterations" >&2
    timed "dgm-mixture-$r" "$build/bench/mixture_em" "$fm" 1 100 $em_iterations || true
    timed "torch-mixture-$r" "$PY" "$root/bench/mixture_em_torch.py" "$fm" 1 100 $em_iterations || true
  done
fi
if [ -z "$only" ] || [ "$only" = ngram ]; then
  for r in $(seq "$repeats"); do
    echo "repeat $r/$repeats: n-gram (bench/ngram_kjv.sh)" >&2
    if (cd "$root" && bench/ngram_kjv.sh "$build") >"$work/ngram_kjv-$r.log" 2>&1; then
      cp "$build"/bench-ngram/word5.json "$work/ngram-word5-$r.json"
    else
      echo "run.sh: bench/ngram_kjv.sh failed (see $work/ngram_kjv-$r.log)" >&2
      tail -n 3 "$build"/bench-ngram/*.log >>"$work/ngram_kjv-$r.log" 2>/dev/null || true
      touch "$work/ngram-failed"
    fi
  done
  # The build at 25.6 M words (31 copies of the KJV), in memory and spilling
  # within a 16 MB budget: once (about 30 s).
  echo "n-gram build at 25 M words (bench/ngram_kjv.sh big)" >&2
  (cd "$root" && bench/ngram_kjv.sh big "$build" 16) >"$work/ngram_big.log" 2>&1 ||
    { echo "run.sh: bench/ngram_kjv.sh big failed (see $work/ngram_big.log)" >&2; touch "$work/ngram-failed"; }
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

$PY "$root/bench/run_report.py" --work "$work" --out "$root/bench/results/latest.json" --repeats "$repeats" \
  --quick "$quick" --load-before "$load_before" --load-after "$load_after" --only "$only"
