#!/usr/bin/env bash
# fuzz.sh — builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan)
# in build-fuzz/ and runs each for a while on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<target>/ is never modified).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 60 s, all targets
# The JSON targets (config, jsonl, model) get tests/fuzz/json.dict, npy gets tests/fuzz/npy.dict.
# Prints, per target, the executions, the corpus size at the end and the
# crashes (crash-*/leak-*/oom-*/timeout-* files, kept in build-fuzz/artifacts/<target>/).
# A crash input, once fixed in the library, goes to tests/fuzz/regressions/<target>/.
# Exit status 1 when any target found something. Environment: BUILD_DIR
# (default build-fuzz), CXX (default clang++), FUZZ_ARGS (extra libFuzzer flags),
# FUZZ_JOBS (targets run at once, default the number of cores), CMAKE_ARGS (more
# CMake options).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(grid lines csv jsonl image idx idx_gz cifar npy text arpa config model sound gif)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
build=${BUILD_DIR:-build-fuzz}

# No MPI: the readers and the model loader never use it, and LeakSanitizer
# reports Open MPI's own allocations.
CXX=${CXX:-clang++} cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDGM_FUZZ=ON \
  -DDGM_BUILD_TESTS=OFF -DDGM_NATIVE=OFF -DDGM_MPI=OFF ${CMAKE_ARGS:-} >&2
# One goal: CMake's top-level Makefile builds several --target goals one after
# another (.NOTPARALLEL), which left a core idle for each small fuzz target.
if [ ${#targets[@]} -eq ${#all[@]} ]; then
  cmake --build "$build" -j"$(nproc)" --target fuzz_targets >&2
else
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]/%/_fuzz}" >&2
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dgm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export DGM_FUZZ_DIR="$scratch/files"
# The library refuses anything past 1 GiB itself (memory_budget); an allocation
# that reaches the fuzzer's 2 GiB limit bypassed a check: a bug.
export DGM_MEMORY_LIMIT_MB=1024
# Leaks inside system libraries that dgm cannot free (see the file).
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mkdir -p "$DGM_FUZZ_DIR"
# Each target runs on one core: as many at a time as there are cores
# (FUZZ_JOBS), each with its own corpus, log and scratch files (per process);
# the table is printed in the order of the targets.
jobs=${FUZZ_JOBS:-$(nproc)}
fuzz_one() { # fuzz_one TARGET: runs it, writes its table row and status to $scratch/row-TARGET
  local t=$1 corpus="$scratch/corpus-$1" artifacts="$build/artifacts/$1"
  local log="$build/artifacts/$1.log" before start status elapsed execs size crashes
  mkdir -p "$corpus" "$artifacts"
  [ -d "tests/fuzz/corpus/$t" ] && cp -r "tests/fuzz/corpus/$t/." "$corpus/"
  before=$(find "$artifacts" -type f | wc -l)
  start=$(date +%s)
  local dict=()
  case $t in
    config | jsonl | model) dict=(-dict=tests/fuzz/json.dict) ;;
    npy) dict=(-dict=tests/fuzz/npy.dict) ;;
  esac
  set +e
  # shellcheck disable=SC2086
  "$build/tests/fuzz/${t}_fuzz" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" ${FUZZ_ARGS:-} > "$log" 2>&1
  status=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  printf '%-8s %10s %8s %8s %s\n' "$t" "${execs:-?}" "$size" "$crashes" "$elapsed" > "$scratch/row-$t"
  echo "$status $crashes" > "$scratch/status-$t"
}
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait
failed=0
printf '%-8s %10s %8s %8s %s\n' target execs corpus crashes seconds
for t in "${targets[@]}"; do
  if [ -f "$scratch/status-$t" ]; then
    cat "$scratch/row-$t"
    read -r status crashes < "$scratch/status-$t"
  else
    status=1 crashes=0 # fuzz_one itself failed before writing its row
  fi
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    log="$build/artifacts/$t.log"
    echo "fuzz.sh: $t failed (exit $status); log $log, inputs in $build/artifacts/$t:" >&2
    grep -m5 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" >&2 || true
  fi
done
exit "$failed"
