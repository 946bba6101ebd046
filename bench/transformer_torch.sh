#!/usr/bin/env bash
# transformer_torch.sh — dgm's transformer against the PyTorch reference of the
# same model (bench/transformer_torch.py), from the same initial parameters
# (written by dgm, loaded by PyTorch), on windows of T characters of the KJV:
#   1. the losses of the first 20 AdamW steps, side by side (max relative gap);
#   2. the training step at one thread: CPU ms a step, medians over interleaved runs;
#   3. sampling N windows of T tokens: dgm's KV-cached sampler against a PyTorch
#      sampler that recomputes the context and one with a KV cache;
#   4. peak memory (maximum resident set, /usr/bin/time -v) of every run.
# Results: one JSON line a run in $OUT/runs.jsonl and a summary on stdout.
#
#   bench/transformer_torch.sh [BUILD_DIR] [REPEATS]        # default build, 3
#   T=256 BATCH=8 SAMPLES=16 bench/transformer_torch.sh
# Model hyperparameters: SET="model.width=256 model.heads=8" (transformer_tool --set).
# CPU times are the figure to quote on a shared machine; the load is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
reps="${2:-3}"
T="${T:-128}"
BATCH="${BATCH:-16}"
SAMPLES="${SAMPLES:-16}"
PY=/usr/bin/python3
out="$build/bench-transformer"
mkdir -p "$out/run"

# OpenBLAS too: without it PyTorch's matrix products run on the reference BLAS,
# ten times slower (bench/run.sh asks for it likewise).
need=()
for pkg in python3-torch python3-numpy libopenblas0-pthread; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
  if [ "$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
[ -f data/kjv/train.txt ] || scripts/prepare_kjv.sh data/kjv
. bench/build.sh
bench_build "$build" transformer_tool
tool="$build/bench/transformer_tool"
sets=()
for s in ${SET:-}; do sets+=(--set "$s"); done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$tool" init "$out/run" --text data/kjv/train.txt --T "$T" --batch "$BATCH" --steps 20 "${sets[@]}"

# 1. losses.
"$tool" train "$out/run" > "$out/dgm_losses.jsonl"
$PY bench/transformer_torch.py train "$out/run" > "$out/torch_losses.jsonl"

# 2 and 3, interleaved; every run under /usr/bin/time -v for its peak RSS.
: > "$out/runs.jsonl"
run() {  # run NAME CMD...: appends the command's last JSON line plus its peak RSS
  local name=$1; shift
  /usr/bin/time -v -o "$out/$name.time" "$@" > "$out/$name.out"
  local rss
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out/$name.time")
  tail -1 "$out/$name.out" | $PY -c "import json,sys; d=json.loads(sys.stdin.read()); d['name']='$name'; d['max_rss_mb']=$rss/1024; print(json.dumps(d))" >> "$out/runs.jsonl"
}
for r in $(seq "$reps"); do
  run dgm_train "$tool" train "$out/run" --threads 1 --time-steps 10
  run torch_train $PY bench/transformer_torch.py train "$out/run" --threads 1 --time-steps 4
  run dgm_sample "$tool" sample "$out/run" -n "$SAMPLES" --threads 1
  run torch_sample_recompute $PY bench/transformer_torch.py sample "$out/run" -n "$SAMPLES" --threads 1 --sampler recompute
  run torch_sample_kv $PY bench/transformer_torch.py sample "$out/run" -n "$SAMPLES" --threads 1 --sampler kv-cache
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

$PY - "$out" <<'EOF'
import json, statistics, sys
out = sys.argv[1]
def lines(p):
    return [json.loads(l) for l in open(p) if l.strip()]
d, t = lines(out + "/dgm_losses.jsonl"), lines(out + "/torch_losses.jsonl")
d = [x for x in d if "loss" in x]; t = [x for x in t if "loss" in x]
gap = max(abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(d, t))
print("step  dgm_loss        torch_loss      rel_gap")
for a, b in zip(d, t):
    print("%4d  %-14.7f  %-14.7f  %.2e" % (a["step"], a["loss"], b["loss"], abs(a["loss"] - b["loss"]) / abs(b["loss"])))
print("max relative loss gap over %d steps: %.2e" % (len(d), gap))
runs = lines(out + "/runs.jsonl")
by = {}
for r in runs:
    by.setdefault(r["name"], []).append(r)
med = lambda name, key: statistics.median(x[key] for x in by[name])
rss = lambda name: max(x["max_rss_mb"] for x in by[name])
tr_d, tr_t = med("dgm_train", "median_cpu_ms"), med("torch_train", "median_cpu_ms")
print("training step, 1 thread: dgm %.1f CPU ms, PyTorch %.1f CPU ms: dgm %.2fx faster (peak RSS %.0f MB vs %.0f MB)"
      % (tr_d, tr_t, tr_t / tr_d, rss("dgm_train"), rss("torch_train")))
sd = med("dgm_sample", "tokens_per_cpu_s")
for name, label in (("torch_sample_recompute", "recomputing"), ("torch_sample_kv", "KV-cached")):
    st = med(name, "tokens_per_cpu_s")
    print("sampling, 1 thread: dgm %.0f tokens/CPU s, PyTorch %s %.0f: dgm %.1fx faster (peak RSS %.0f MB vs %.0f MB)"
          % (sd, label, st, sd / st, rss("dgm_sample"), rss(name)))
EOF
