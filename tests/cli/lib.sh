# lib.sh — what the bad-input scripts share: a scratch folder as the working
# directory (removed on exit), the case and failure counts, and the check that
# a command fails as dgm must on bad input: exit 1, exactly one stderr line
# "dgm: error: ..." containing the expected words, and no output file left.
# Source it after dgm and src are set:  . "$src/tests/cli/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
cases=0

# expect_error_to SINK NAME PATTERN OUTPUT CMD...: CMD with stdout to SINK must
# exit 1 with one "dgm: error:" line containing PATTERN and, when OUTPUT is not
# empty, leave no file OUTPUT. Its stderr is left in err.txt.
expect_error_to() {
  local sink=$1 name=$2 pattern=$3 output=$4
  shift 4
  cases=$((cases + 1))
  "$@" > "$sink" 2> err.txt
  local status=$?
  if [ "$status" -ne 1 ]; then
    echo "FAIL $name: exit $status, expected 1"; cat err.txt; fail=1; return
  fi
  if [ "$(wc -l < err.txt)" -ne 1 ] || ! head -c 12 err.txt | grep -q '^dgm: error: ' || ! grep -qF -- "$pattern" err.txt; then
    echo "FAIL $name: stderr is not one 'dgm: error:' line naming '$pattern':"; cat err.txt; fail=1; return
  fi
  if [ -n "$output" ] && [ -e "$output" ]; then echo "FAIL $name: $output was written"; fail=1; return; fi
  echo "ok   $name: $(cat err.txt)"
}
# expect_error NAME PATTERN CMD...: stdout to out.stdout, no output file named.
expect_error() { expect_error_to out.stdout "$1" "$2" "" "${@:3}"; }
# expect_error_without NAME PATTERN OUTPUT CMD...: and OUTPUT must not be created.
expect_error_without() { expect_error_to out.stdout "$@"; }
# expect_error_full NAME PATTERN CMD...: stdout on /dev/full.
expect_error_full() { expect_error_to /dev/full "$1" "$2" "" "${@:3}"; }
