#!/usr/bin/env bash
# stats.sh — end-to-end check of `dgm stats`: the digits config in text and
# JSON form, a missing file (exit 1, one line "dgm: error: ..." naming it) and
# a bad option (exit 2). Usage: stats.sh DGM_BINARY SOURCE_DIR
set -u
dgm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$2" || exit 1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Text output: the space, |X|, the figures, a drawn grid.
"$dgm" stats --config configs/digits.json >"$tmp/out" 2>"$tmp/err" || fail "stats --config exited $?: $(cat "$tmp/err")"
for want in '{0..1}^(5x5)' '2^25 = 33554432' 'samples (N)' 'distinct' 'duplicates' 'entropy' 'nats' 'bits' \
            'fraction of X' 'top 5 samples' '#1  count'; do
  grep -qF -- "$want" "$tmp/out" || fail "stats output lacks '$want':"$'\n'"$(cat "$tmp/out")"
done
grep -qE '^    [.#]{5}' "$tmp/out" || fail "no 5x5 grid drawn:"$'\n'"$(cat "$tmp/out")"

# JSON: parses, and its figures agree with themselves.
"$dgm" stats --config configs/digits.json --json -k 3 >"$tmp/json" 2>"$tmp/err" || fail "stats --json exited $?"
python3 - "$tmp/json" <<'PY' || fail "bad JSON: $(head -c 400 "$tmp/json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["dims"] == 25 and j["space_describe"] == "{0..1}^(5x5)", j
t = j["splits"]["train"]
assert t["samples"] > 0 and t["distinct"] + t["duplicates"] == t["samples"], t
assert 0 < t["entropy_bits"] <= 25 and abs(t["entropy_bits"] * 0.6931471805599453 - t["entropy_nats"]) < 1e-9, t
assert 1 <= len(t["top"]) <= 3 and all(len(e["values"]) == 25 for e in t["top"]), t["top"]
counts = [e["count"] for e in t["top"]]
assert counts == sorted(counts, reverse=True), counts
for name, s in j["splits"].items():
    if name != "train":
        v = s["vs_train"]
        assert 0 <= v["validity"] <= 1 and abs(v["validity"] + v["novelty"] - 1) < 1e-12, v
        assert 0 <= v["coverage"] <= 1, v
PY

# A missing file: exit 1, one line naming it.
"$dgm" stats --config "$tmp/no-such-config.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "missing config: exit $rc, want 1"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "missing config: want one line on stderr, got: $(cat "$tmp/err")"
grep -q '^dgm: error: .*no-such-config.json' "$tmp/err" || fail "missing config: message $(cat "$tmp/err")"
"$dgm" stats --data "$tmp/no-such-data.txt" --format grid --shape 5,5 --levels 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || fail "missing data: exit $rc, want 1"
[ "$(grep -c . "$tmp/err")" = 1 ] || fail "missing data: want one message line on stderr, got: $(cat "$tmp/err")"
grep -q '^dgm: error: .*no-such-data.txt' "$tmp/err" || fail "missing data: message $(cat "$tmp/err")"
[ -s "$tmp/out" ] && fail "missing data: wrote to stdout: $(cat "$tmp/out")"

# A bad option: exit 2.
"$dgm" stats --no-such-option >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 2 ] || fail "bad option: exit $rc, want 2"
"$dgm" stats --top -3 --config configs/digits.json >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" = 2 ] || fail "--top -3: exit $rc, want 2"
echo "stats.sh: ok"
