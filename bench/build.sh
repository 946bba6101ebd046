# build.sh — sourced by the bench/ scripts: builds targets of a build folder,
# the drivers of bench/CMakeLists.txt included (they get the library's compile
# options and link line there; nothing here links libdgm.a by hand).
#
#   . bench/build.sh; bench_build BUILD TARGET... [-- CMAKE_ARGS...]
#
# A folder with no CMakeCache.txt is configured first (Release, ccache when
# installed, plus CMAKE_ARGS); an existing one is configured again (cheap), so
# that a build set up before bench/CMakeLists.txt existed learns its targets.
# The drivers land in BUILD/bench/. -j2: the machine is shared. Output is
# shown only when a step fails.
bench_build() {
  local build=$1 targets=() args=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do targets+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  args=("$@")
  if [ ! -f "$build/CMakeCache.txt" ]; then
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    command -v ccache >/dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    bench_quiet cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "${args[@]}" || return 1
  else
    bench_quiet cmake "$build" || return 1
  fi
  bench_quiet cmake --build "$build" --target "${targets[@]}" -j2
}
# bench_quiet CMD...: runs CMD, shows its output only if it fails.
bench_quiet() {
  local log status=0
  log=$("$@" 2>&1) || status=$?
  ((status == 0)) || printf '%s\n' "$log" | tail -n 40 >&2
  return $status
}
