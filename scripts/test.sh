#!/usr/bin/env bash
# test.sh — builds dgm with its tests in build/ and runs the whole suite with CTest
# (the Python module's pytest suite, tests/python, is the CTest test 'python';
# it is not built under -DDGM_SANITIZE=ON, where the interpreter would need libasan).
# Environment: BUILD_DIR (default build), plus any CMake options in CMAKE_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >&2
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
