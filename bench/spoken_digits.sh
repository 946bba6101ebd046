#!/usr/bin/env bash
# spoken_digits.sh — issue 11's audio figures on the spoken-digits set
# (scripts/make_spoken_digits.sh; 8 kHz, mu-law 8-bit, frames of 4096 samples,
# test voices unheard in training):
#   * test bits per sample of independent, mixture and wavenet (label given,
#     -log P(x|y), and label unknown, -log P(x)), from `dgm eval`;
#   * FLAC (flac -8, the best compression) on the same 8-bit codes: the test
#     frames, as the config reads them, written as raw unsigned 8-bit PCM at
#     8 kHz, one FLAC stream with a block a frame (bench/media_tool.cc rows);
#     bits/sample = 8 x file bytes / samples, headers included;
#   * the wavenet's cached sampler against the plain recomputing one (CPU
#     seconds for the same draws, one thread, and whether they are identical);
#   * a WAV of samples (--label 7) and its spectrogram (sox) in OUT.
# Training is nice'd; wavenet trains for at most WAVENET_MINUTES (SIGINT, then
# its checkpoint of the best parameters so far is the model: a short budget).
#
#   bench/spoken_digits.sh [BUILD_DIR] [WAVENET_MINUTES] [WAVENET_SETS...]
#   e.g. bench/spoken_digits.sh build 15 model.channels=16 model.hidden=32
#
# Timings mean little on a loaded machine: the load average is printed.
set -euo pipefail

build="${1:-build}"
minutes="${2:-60}"
shift $(( $# >= 2 ? 2 : $# ))
sets=()
for s in "$@"; do sets+=(--set "$s"); done
out="$build/bench-spoken-digits"
mkdir -p "$out"
dgm="$build/dgm"

[ -d data/spoken-digits/train ] || scripts/make_spoken_digits.sh data/spoken-digits
. bench/build.sh
bench_build "$build" dgm media_tool
tool="$build/bench/media_tool"

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
train() { # train NAME [ARGS...]: CPU time and peak memory of the run in OUT/NAME.time
  local name=$1
  shift
  nice -n 5 /usr/bin/time -f "%U %S %e %M" -o "$out/$name.time" \
    "$dgm" train -c "configs/spoken-digits-$name.json" -o "$out/$name.dgm" -q "$@" || true
}
train independent
train mixture
# wavenet: a time budget; Ctrl-C's checkpoint holds the best parameters so far.
rm -f "$out/wavenet.partial.dgm"
nice -n 5 /usr/bin/time -f "%U %S %e %M" -o "$out/wavenet.time" \
  timeout -s INT "${minutes}m" "$dgm" train -c configs/spoken-digits-wavenet.json -o "$out/wavenet.dgm" \
  --log "$out/wavenet.jsonl" "${sets[@]}" -q || true
[ -f "$out/wavenet.dgm" ] || mv "$out/wavenet.partial.dgm" "$out/wavenet.dgm"

printf '%-12s %10s %10s %12s %9s %8s\n' model "bits|y" bits "nats/clip" cpu_s peak_MB
for name in independent mixture wavenet; do
  nice -n 5 "$dgm" eval -m "$out/$name.dgm" -n 0 > "$out/$name.eval"
  awk -v name="$name" -v t="$(cat "$out/$name.time" | tail -1)" '
    /label given/ { for (i = 1; i <= NF; ++i) if ($i == "bits/dim") given = $(i - 1) }
    /label unknown/ { for (i = 1; i <= NF; ++i) if ($i == "bits/dim") unknown = $(i - 1) }
    /^clips/ { for (i = 1; i <= NF; ++i) if ($i == "nats/clip") clip = $(i - 1) }
    END { split(t, a, " "); printf "%-12s %10s %10s %12s %9.1f %8.0f\n", name, given, unknown, clip, a[1] + a[2], a[4] / 1024 }' \
    "$out/$name.eval"
done

# FLAC -8 on the same 8-bit codes.
"$tool" rows configs/spoken-digits-independent.json test "$out/test.raw" > "$out/test.rows"
values=$(awk '{print $3}' "$out/test.rows")
flac -8 -s -f --force-raw-format --endian=little --sign=unsigned --channels=1 --bps=8 --sample-rate=8000 \
  --blocksize=4096 -o "$out/test.flac" "$out/test.raw"
awk -v b="$(stat -c %s "$out/test.flac")" -v n="$values" \
  'BEGIN { printf "%-12s %10s %10.4f   (%d bytes for %d samples)\n", "flac -8", "", 8 * b / n, b, n }'

# The cached sampler against the plain one, on the trained wavenet.
nice -n 5 "$tool" samplers "$out/wavenet.dgm" 2 1

# Samples: a WAV of "seven"s and its spectrogram.
"$dgm" sample -m "$out/wavenet.dgm" -n 4 --label 7 --seed 1 -f wav -o "$out/wavenet-seven.wav"
sox "$out/wavenet-seven.wav" -n spectrogram -x 800 -y 257 -t "wavenet samples, --label 7" -o "$out/wavenet-seven.png"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
