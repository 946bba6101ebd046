#!/usr/bin/env bash
# check_install.sh — installs a built dgm to a scratch prefix and uses it as an
# outside project would: every public header compiles on its own with only the
# installed include folder (and the system's), examples/score builds with
# find_package(dgm) against libdgm.so and libdgm.a and once with
# `pkg-config --cflags --libs dgm`, and each build's scores of the shipped
# digits equal `dgm score`'s, byte for byte; so do the installed Python
# module's (when built: DGM_PYTHON), imported from the prefix's
# lib/python3/dist-packages. The installed manual page must render without warnings.
#   scripts/check_install.sh [BUILD_DIR]     # default build (already built)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-${BUILD_DIR:-build}}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/dgm-install.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix
fail() { echo "check_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$scratch/install.log"
for f in bin/dgm lib/libdgm.a lib/libdgm.so lib/cmake/dgm/dgmConfig.cmake lib/cmake/dgm/dgmConfigVersion.cmake \
         lib/pkgconfig/dgm.pc share/man/man1/dgm.1 share/bash-completion/completions/dgm include/dgm/model.h; do
  [ -e "$prefix/$f" ] || fail "$f was not installed"
done

# Each public header on its own: nothing it includes may be missing from the
# install (private headers under src/, or Eigen, which is private).
# (As many at once as there are cores: each parses nlohmann_json, ~2 s.)
header_alone() { # header_alone H: compiles #include <H> alone, or names H and fails
  echo "#include <$1>" | ${CXX:-c++} -std=c++17 -fsyntax-only -Wall -Wextra -Werror -I"$prefix/include" -x c++ - ||
    { echo "check_install: public header $1 does not compile on its own" >&2; return 1; }
}
export -f header_alone
export prefix CXX
(cd "$prefix/include" && find dgm -name '*.h' | sort) > "$scratch/headers.txt"
xargs -P "$(nproc)" -n 1 bash -c 'header_alone "$1"' _ < "$scratch/headers.txt" ||
  fail "public headers must compile on their own (above)"
echo "check_install: $(wc -l < "$scratch/headers.txt") public headers compile on their own" >&2

# The reference: the installed dgm trains the digits model and scores the test set.
dgm=$prefix/bin/dgm
"$dgm" train -c configs/digits.json -o "$scratch/digits.dgm" -q
"$dgm" score data/digits/test.txt -f grid -m "$scratch/digits.dgm" > "$scratch/expected.txt"
[ -s "$scratch/expected.txt" ] || fail "dgm score printed nothing"

check() { # check NAME PROGRAM: its scores equal dgm's
  "$2" "$scratch/digits.dgm" data/digits/test.txt grid > "$scratch/$1.txt" || fail "$1: the example failed"
  cmp -s "$scratch/expected.txt" "$scratch/$1.txt" || {
    diff "$scratch/expected.txt" "$scratch/$1.txt" | head >&2
    fail "$1: scores differ from dgm score"
  }
  echo "check_install: $1: $(wc -l < "$scratch/$1.txt") scores equal dgm score's" >&2
}

for kind in shared static; do
  static=OFF
  [ "$kind" = static ] && static=ON
  cmake -S examples/score -B "$scratch/example-$kind" -DCMAKE_PREFIX_PATH="$prefix" -DDGM_STATIC=$static \
    -DCMAKE_BUILD_TYPE=Release > "$scratch/example-$kind.log" || { cat "$scratch/example-$kind.log" >&2; fail "find_package(dgm) failed"; }
  cmake --build "$scratch/example-$kind" >> "$scratch/example-$kind.log" || { cat "$scratch/example-$kind.log" >&2; fail "example ($kind) does not build"; }
  check "find_package(dgm), $kind" "$scratch/example-$kind/score"
done
if [ "$(ldd "$scratch/example-shared/score" | grep -c "$prefix/lib/libdgm.so")" -ne 1 ]; then
  fail "the shared example does not load $prefix/lib/libdgm.so"
fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion dgm)" = "$("$dgm" --version | sed 's/^dgm //')" ] || fail "dgm.pc's version is not dgm --version's"
# shellcheck disable=SC2046
${CXX:-c++} -std=c++17 -O2 examples/score/score.cc -o "$scratch/score-pc" $(pkg-config --cflags --libs dgm) \
  -Wl,-rpath,"$(pkg-config --variable=libdir dgm)" || fail "the example does not build with pkg-config"
check "pkg-config dgm" "$scratch/score-pc"

# The Python module, from the prefix alone (not the build tree).
if grep -q '^DGM_PYTHON:BOOL=ON' "$build/CMakeCache.txt"; then
  site=$prefix/lib/python3/dist-packages
  python=$(sed -n 's/^PYTHON_EXECUTABLE:FILEPATH=//p' "$build/CMakeCache.txt")
  root=$PWD
  ls "$site"/dgm.*.so > /dev/null 2>&1 || fail "the Python module was not installed in $site"
  (cd "$scratch" && PYTHONPATH=$site "$python" -c '
import sys, dgm
assert dgm.__file__.startswith(sys.argv[1]), dgm.__file__
m = dgm.load(sys.argv[2])
for lp in m.log_prob(dgm.read(sys.argv[3], m.space, "grid")):
    print("%.10g\t%.6g" % (lp, -lp / 0.6931471805599453 / m.space.dims))
' "$site" "$scratch/digits.dgm" "$root/data/digits/test.txt") > "$scratch/python.txt" || fail "the installed Python module failed"
  cut -f2,3 "$scratch/expected.txt" > "$scratch/expected-columns.txt"
  cmp -s "$scratch/expected-columns.txt" "$scratch/python.txt" || {
    diff "$scratch/expected-columns.txt" "$scratch/python.txt" | head >&2
    fail "the installed Python module's scores differ from dgm score"
  }
  echo "check_install: Python module from $site: $(wc -l < "$scratch/python.txt") scores equal dgm score's" >&2
fi

warnings=$(MANWIDTH=80 man --warnings -l "$prefix/share/man/man1/dgm.1" 2>&1 > /dev/null)
[ -z "$warnings" ] || fail "the manual page has warnings: $warnings"
echo "check_install: installed to a scratch prefix and used from CMake and pkg-config: ok" >&2
