#!/usr/bin/env bash
# empirical_fmnist.sh — builds bench/empirical_fmnist.cc (a target of
# bench/CMakeLists.txt) in BUILD (default: build) and runs it on Fashion-MNIST train under
# /usr/bin/time -v. Targets: load + build under 1 s, peak memory under 150 MB.
# Usage: bench/empirical_fmnist.sh [FASHION_MNIST_DIR]   (env BUILD=build-dir)
# Not part of the main build or of CI; the machine should be otherwise idle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
dir=${1:-/usr/share/datasets/fashion-mnist}
. "$root/bench/build.sh"
bench_build "$build" empirical_fmnist
/usr/bin/time -v "$build/bench/empirical_fmnist" "$dir" 2>"$build/bench/time.txt"
grep -E "Elapsed \(wall|Maximum resident" "$build/bench/time.txt"
