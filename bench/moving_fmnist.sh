#!/usr/bin/env bash
# moving_fmnist.sh — issue 11's video figures on Moving Fashion-MNIST, 8-bit
# (scripts/make_moving_fmnist.py: clips of 8 frames of 32x32, label = class):
#   * test nats per clip (and bits per pixel) of independent, mixture and
#     pixelcnn, label given, -log P(x|y), and label unknown, -log P(x), from
#     `dgm eval`; with each run's CPU time and peak memory;
#   * samples of the pixelcnn: four clips (labels from the model's prior) as
#     GIFs (OUT/gifs/<label>/) and, drawn again under the same seed, as a sheet
#     of four rows (OUT/pixelcnn-sheet.png), with the sampling CPU time.
# Training is nice'd; pixelcnn trains for at most PIXELCNN_MINUTES (SIGINT,
# then its checkpoint of the best parameters so far is the model: a short
# budget), with the extra --set overrides given.
#
#   bench/moving_fmnist.sh [BUILD_DIR] [PIXELCNN_MINUTES] [PIXELCNN_SETS...]
#   e.g. bench/moving_fmnist.sh build 15 model.channels=16 model.layers=2
#
# Timings mean little on a loaded machine: the load average is printed.
set -euo pipefail

build="${1:-build}"
minutes="${2:-60}"
shift $(( $# >= 2 ? 2 : $# ))
sets=()
for s in "$@"; do sets+=(--set "$s"); done
out="$build/bench-moving-fmnist"
mkdir -p "$out"
dgm="$build/dgm"

[ -d data/moving-fmnist/8bit/train ] || scripts/make_moving_fmnist.py
. bench/build.sh
bench_build "$build" dgm

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in independent mixture; do
  nice -n 5 /usr/bin/time -f "%U %S %e %M" -o "$out/$name.time" \
    "$dgm" train -c "configs/moving-fmnist8-$name.json" -o "$out/$name.dgm" -q
done
rm -f "$out/pixelcnn.partial.dgm"
nice -n 5 /usr/bin/time -f "%U %S %e %M" -o "$out/pixelcnn.time" \
  timeout -s INT "${minutes}m" "$dgm" train -c configs/moving-fmnist8-pixelcnn.json -o "$out/pixelcnn.dgm" \
  --log "$out/pixelcnn.jsonl" "${sets[@]}" -q || true
[ -f "$out/pixelcnn.dgm" ] || mv "$out/pixelcnn.partial.dgm" "$out/pixelcnn.dgm"

printf '%-12s %12s %12s %9s %9s %8s\n' model "nats/clip|y" "nats/clip" "bits/dim" cpu_s peak_MB
for name in independent mixture pixelcnn; do
  nice -n 5 "$dgm" eval -m "$out/$name.dgm" -n 0 > "$out/$name.eval"
  awk -v name="$name" -v t="$(tail -1 "$out/$name.time")" '
    function field(unit) { for (i = 1; i <= NF; ++i) if ($i == unit) return $(i - 1) }
    /label given/ { given = field("nats/sample,"); bits = field("bits/dim") }
    /label unknown/ { unknown = field("nats/sample,") }
    END { split(t, a, " "); printf "%-12s %12s %12s %9s %9.1f %8.0f\n", name, given, unknown, bits, a[1] + a[2], a[4] / 1024 }' \
    "$out/$name.eval"
done

# Samples: four clips, as GIFs and (the same draws, same seed) as a sheet.
rm -rf "$out/gifs"
nice -n 5 /usr/bin/time -f "sampling 4 clips: %U s user %S s sys %e s wall" \
  "$dgm" sample -m "$out/pixelcnn.dgm" -n 4 --seed 1 -f gif -o "$out/gifs"
nice -n 5 "$dgm" sample -m "$out/pixelcnn.dgm" -n 4 --seed 1 -f sheet -o "$out/pixelcnn-sheet.png"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
