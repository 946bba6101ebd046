#!/usr/bin/env bash
# manual.sh — the manual page and the bash completion stay true to --help:
# both are regenerated from the binary and must name every subcommand that
# `dgm --help` lists and every option that `dgm CMD --help` lists; the page
# renders with `man -l` without warnings, the build's copies are up to date,
# and the completion completes commands, options, option values and files.
# Usage: manual.sh DGM_BINARY SOURCE_DIR
set -u
dgm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
build=$(dirname "$dgm")
cd "$2" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$dgm" _doc man -o "$tmp/dgm.1" || fail "_doc man exited $?"
"$dgm" _doc bash > "$tmp/dgm.bash" || fail "_doc bash exited $?"
cmp -s "$tmp/dgm.1" "$build/dgm.1" || fail "$build/dgm.1 is not what the binary writes (stale build rule?)"
cmp -s "$tmp/dgm.bash" "$build/dgm.bash-completion" || fail "$build/dgm.bash-completion is stale"

MANWIDTH=100 man --warnings -l "$tmp/dgm.1" > "$tmp/man.txt" 2> "$tmp/man.err" || fail "man -l exited $?: $(cat "$tmp/man.err")"
[ -s "$tmp/man.err" ] && fail "man -l warns: $(cat "$tmp/man.err")"
for want in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS "EXIT STATUS" "dgm - learns"; do
  grep -q "^$want\|$want" "$tmp/man.txt" || fail "the manual lacks '$want'"
done

# The subcommands, from the help text (lines "  NAME   description" under "Subcommands:").
commands=$("$dgm" --help | sed -n '/^Subcommands:/,/^$/p' | sed -n 's/^  \([a-z][a-z0-9_-]*\) .*/\1/p')
[ "$(echo "$commands" | wc -w)" -ge 7 ] || fail "could not read the subcommands from dgm --help: $commands"
echo "$commands" | grep -qx _doc && fail "the hidden _doc command is listed in --help"
grep -q "_doc" "$tmp/man.txt" && fail "the manual mentions the hidden _doc command"
grep -q "_doc)" "$tmp/dgm.bash" && fail "the completion offers the hidden _doc command"

# Bash completion: COMPREPLY for the words typed so far ($cur is the last).
# shellcheck disable=SC1090
source "$tmp/dgm.bash"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _dgm; echo "${COMPREPLY[*]}"; }
has() { [[ " $1 " == *" $2 "* ]]; }

for c in $commands; do
  # The page has a section for it, holding every option its --help lists.
  section=$(awk -v h="   dgm $c" '$0 == h {on = 1; next} on && /^   dgm / {exit} on && /^[A-Z]/ {exit} on' "$tmp/man.txt")
  [ -n "$section" ] || fail "the manual has no section 'dgm $c'"
  has "$(complete_words dgm "${c:0:2}")" "$c" || fail "completing '${c:0:2}' does not offer $c"
  opts=$(complete_words dgm "$c" -)
  for o in $("$dgm" "$c" --help | sed -n '/^Options:/,/^$/p' | grep -oE '^  +-[^ ]+' | tr ',' ' '); do
    [ "$o" = -h ] || [ "$o" = --help ] || grep -qe "$o\b" <<< "$section" || fail "the manual's 'dgm $c' lacks $o"
    has "$opts" "$o" || fail "completing 'dgm $c -' does not offer $o (got: $opts)"
  done
done

# Values: format names for a FORMAT, files, and nothing for a number.
got=$(complete_words dgm convert --to "")
for f in lines grid image idx cifar npy text; do has "$got" "$f" || fail "dgm convert --to <TAB> lacks $f: $got"; done
got=$(complete_words dgm convert --to = np)
[ "$got" = npy ] || fail "dgm convert --to=np<TAB> gave '$got', expected npy"
got=$(complete_words dgm train --config configs/dig)
has "$got" configs/digits.json || fail "dgm train --config configs/dig<TAB> gave '$got'"
got=$(complete_words dgm score data/digits/te)
has "$got" data/digits/test.txt || fail "dgm score <file><TAB> gave '$got'"
got=$(complete_words dgm sample -n "")
[ -z "$got" ] || fail "dgm sample -n <TAB> (a number) offered '$got'"
exit 0
