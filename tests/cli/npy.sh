#!/usr/bin/env bash
# npy.sh — .npy files against NumPy itself (Debian's python3-numpy, installed
# by scripts/setup.sh): arrays NumPy saves in every integer dtype, both byte
# orders, format versions 1.0, 2.0 and 3.0, N x shape and N x D, read by dgm
# convert exactly; files dgm writes (u1, i2, i4, labels i8) loaded by np.load
# (also memory-mapped) with the same values; a Fortran-order array refused in
# one line. Usage: npy.sh DGM_BINARY SOURCE_DIR
set -u
dgm=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }
py=/usr/bin/python3
$py -c 'import numpy' 2> /dev/null || fail "$py has no numpy (scripts/setup.sh installs python3-numpy)"

# NumPy writes; dgm reads: each file's values as lines, compared with NumPy's own.
$py - <<'PY' || fail "writing the NumPy fixtures"
import numpy as np
rng = np.random.default_rng(7)
x = rng.integers(0, 100, size=(6, 3, 4))
names = []
for kind in "iu":
    for size in (1, 2, 4, 8):
        for order in "<>":
            dt = np.dtype(f"{order}{kind}{size}")
            a = x.astype(dt)
            name = f"{kind}{size}{'le' if order == '<' else 'be'}"
            np.save(f"{name}.npy", a)
            names.append(name)
np.save("flat.npy", x.reshape(6, 12).astype(np.uint16))
names.append("flat")
with open("v2.npy", "wb") as f:
    np.lib.format.write_array(f, x.astype(np.int32), version=(2, 0))
with open("v3.npy", "wb") as f:
    np.lib.format.write_array(f, x.astype(np.int32), version=(3, 0))
names += ["v2", "v3"]
np.save("bool.npy", x > 50)
np.save("fortran.npy", np.asfortranarray(x.astype(np.uint8)))
np.save("float.npy", x.astype(np.float32))
with open("names", "w") as f:
    f.write("\n".join(names) + "\n")
with open("expected.txt", "w") as f:
    for row in x.reshape(6, 12):
        f.write(" ".join(str(v) for v in row) + "\n")
with open("expected-bool.txt", "w") as f:
    for row in (x > 50).reshape(6, 12):
        f.write("".join(str(int(v)) for v in row) + "\n")
PY
while read -r n; do
  "$dgm" convert "$n.npy" "$n.txt" --shape 3x4 --levels 100 --to lines -q 2> err || fail "$n.npy: $(cat err)"
  cmp -s expected.txt "$n.txt" || fail "$n.npy read differently from NumPy: $(diff expected.txt "$n.txt" | head -4)"
done < names
"$dgm" convert bool.npy bool.txt --to lines 2> err || fail "bool.npy: $(cat err)"
grep -q "space {0..1}^(3x4)" err || fail "a bool array's space is not binary: $(cat err)"
cmp -s expected-bool.txt bool.txt || fail "bool.npy read differently from NumPy"
"$dgm" convert fortran.npy f.txt --levels 100 > /dev/null 2> err
[ $? -eq 1 ] && [ "$(wc -l < err)" -eq 1 ] && grep -q "fortran.npy: the array is in Fortran order" err ||
  fail "a Fortran-order array was not refused in one line: $(cat err)"
"$dgm" convert float.npy f.txt --levels 100 > /dev/null 2> err
[ $? -eq 1 ] && grep -q "float.npy: dtype '<f4' (floating point) is not an integer type" err || fail "float.npy: $(cat err)"

# dgm writes; NumPy reads.
"$dgm" convert expected.txt w1.npy --shape 3x4 --levels 100 --to npy -q || fail "write u1"
"$dgm" convert expected.txt w2.npy --shape 3x4 --levels 1000 --to npy -q || fail "write i2"
"$dgm" convert expected.txt w4.npy --shape 12 --levels 100000 --to npy -q || fail "write i4"
awk '{ printf "%s\t%d\n", $0, NR % 3 }' expected.txt > labeled.txt
"$dgm" convert labeled.txt wl.npy --shape 3x4 --levels 100 --labels 3 -q || fail "write with labels"
$py - <<'PY' || fail "NumPy does not read dgm's files back"
import numpy as np
want = np.loadtxt("expected.txt", dtype=np.int64).reshape(6, 3, 4)
for name, dtype, shape in (("w1", np.uint8, (6, 3, 4)), ("w2", np.int16, (6, 3, 4)), ("w4", np.int32, (6, 12))):
    for mode in (None, "r"):
        a = np.load(f"{name}.npy", mmap_mode=mode)
        assert a.dtype == dtype and a.shape == shape and not np.isfortran(a), (name, a.dtype, a.shape)
        assert (a.reshape(6, 3, 4) == want).all(), name
a, y = np.load("wl.npy"), np.load("wl-labels.npy")
assert (a == want).all() and y.dtype == np.int64 and list(y) == [1, 2, 0, 1, 2, 0], y
PY
exit 0
