#!/usr/bin/env bash
# neural_fmnist.sh — dgm's FVSBN / NADE / MADE against PyTorch references on
# binarised Fashion-MNIST (not part of the default build or CI). Builds the
# C++ driver bench/neural_fmnist.cc (target neural_fmnist), installs the PyTorch side's needs from
# Debian if missing, then runs both sides interleaved, one model at a time,
# writing one JSON line per run to bench/results/neural_fmnist.jsonl.
#
#   bench/neural_fmnist.sh [MODELS] [EPOCHS] [THREADS]
#   bench/neural_fmnist.sh "fvsbn made" 20 1     # full runs
#   TORCH_NADE_BATCHES=50 bench/neural_fmnist.sh nade 3 1
#
# PyTorch NADE at ~155 s/epoch is timed on TORCH_NADE_BATCHES minibatches a
# epoch (default 50) unless TORCH_NADE_BATCHES=0.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${1:-"fvsbn made nade"}
EPOCHS=${2:-20}
THREADS=${3:-1}
TORCH_NADE_BATCHES=${TORCH_NADE_BATCHES:-50}
PY=/usr/bin/python3
OUT=bench/results/neural_fmnist.jsonl
mkdir -p bench/results

# OpenBLAS even when torch imports: without it PyTorch runs on the reference BLAS.
need=()
for pkg in python3-torch python3-numpy libopenblas0-pthread; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}"
fi

. bench/build.sh
bench_build build neural_fmnist

echo "# $(date -u +%FT%TZ) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for m in $MODELS; do
  echo "== dgm $m" >&2
  build/bench/neural_fmnist --model "$m" --epochs "$EPOCHS" --threads "$THREADS" | tee -a "$OUT"
  echo "== torch $m" >&2
  extra=()
  if [ "$m" = nade ] && [ "$TORCH_NADE_BATCHES" != 0 ]; then extra=(--max-batches "$TORCH_NADE_BATCHES"); fi
  OPENBLAS_NUM_THREADS=$THREADS $PY bench/neural_torch.py --model "$m" --epochs "$EPOCHS" --threads "$THREADS" \
    "${extra[@]}" | tee -a "$OUT"
done
