#!/usr/bin/env bash
# pixelcnn_fmnist.sh — bits/dim on the 10,000 Fashion-MNIST test images at 8 bits
# (1x28x28), side by side: the dgm models independent, mixture and pixelcnn
# (trained here from configs/fmnist8-*.json, or loaded from files given on the
# command line) and lossless codecs, each image its own file: PNG (optipng -o7),
# WebP lossless (cwebp -lossless -z 9), JPEG XL lossless (cjxl -d 0 -e 9), plus
# xz -9e over the raw 7,840,000-byte test array. Codec bits/dim =
# 8 * total bytes / (10000 * 784). Model bits/dim = -log2 P(x) / 784 with the
# label unknown (the marginal over labels, as a codec sees the image). Also
# training time and peak memory (/usr/bin/time -v) and sampling speed.
#
# Usage: bench/pixelcnn_fmnist.sh [--pixelcnn F.dgm] [--mixture F.dgm] [--independent F.dgm]
#          [--minutes 60] [--codec-images 10000] [--jobs 2] [--work DIR] [--only codecs|models]
#   --minutes: wall-clock limit of the pixelcnn training (SIGINT, keeps the best epoch)
# Not part of the build or of CI; installs optipng, webp, libjxl-tools with apt-get.
# Timings are only meaningful on an otherwise idle machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
fm=/usr/share/datasets/fashion-mnist
work=$root/out/pixelcnn_fmnist
minutes=60 codec_images=10000 jobs=2 only=""
declare -A given=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pixelcnn|--mixture|--independent) given[${1#--}]=$(realpath "$2"); shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --codec-images) codec_images=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "usage: $0 [--pixelcnn|--mixture|--independent FILE] [--minutes M] [--codec-images N] [--jobs J] [--work DIR] [--only codecs|models]" >&2; exit 2 ;;
  esac
done
mkdir -p "$work"
cd "$work"
dgm=$build/dgm
. "$root/bench/build.sh"
bench_build "$build" dgm

need=()
command -v optipng >/dev/null || need+=(optipng)
command -v cwebp >/dev/null || need+=(webp)
command -v cjxl >/dev/null || need+=(libjxl-tools)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

results=$work/results${only:+-$only}.tsv
printf 'method\tbits/dim\tnotes\n' > "$results"

if [ "$only" != models ]; then
# ---- the test images: raw array and one PNG each (stdlib-only PNG writer) ----
python3 - "$fm/t10k-images-idx3-ubyte.gz" "$codec_images" <<'EOF'
import gzip, os, struct, sys, zlib
data = gzip.open(sys.argv[1]).read()[16:]
n = int(sys.argv[2])
assert len(data) == 10000 * 784
open("test.raw", "wb").write(data)
os.makedirs("png", exist_ok=True)
def chunk(t, b):
    return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
for i in range(n):
    img = data[i * 784:(i + 1) * 784]
    rows = b"".join(b"\x00" + img[r * 28:(r + 1) * 28] for r in range(28))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    open("png/%05d.png" % i, "wb").write(png)
EOF
pixels=$((codec_images * 784))
bpd() { python3 -c "import sys; print('%.4f' % (8.0 * int(sys.argv[1]) / int(sys.argv[2])))" "$1" "$2"; }
total_bytes() { find "$1" -type f -name "$2" -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# ---- codecs ----
xz -9e -k -f -T1 test.raw
echo -e "xz -9e (whole raw array)\t$(bpd "$(stat -c %s test.raw.xz)" 7840000)\t$(stat -c %s test.raw.xz) bytes" >> "$results"
rm -rf opt webp jxl && mkdir -p opt webp jxl
export LC_ALL=C
ls png | xargs -P "$jobs" -I{} sh -c 'optipng -quiet -o7 -out opt/{} png/{}'
echo -e "PNG (optipng -o7)\t$(bpd "$(total_bytes opt '*.png')" $pixels)\t$codec_images files" >> "$results"
ls png | sed 's/\.png$//' | xargs -P "$jobs" -I{} sh -c 'cwebp -quiet -lossless -z 9 png/{}.png -o webp/{}.webp'
echo -e "WebP lossless (cwebp -lossless -z 9)\t$(bpd "$(total_bytes webp '*.webp')" $pixels)\t$codec_images files" >> "$results"
ls png | sed 's/\.png$//' | xargs -P "$jobs" -I{} sh -c 'cjxl -d 0 -e 9 --quiet png/{}.png jxl/{}.jxl 2>/dev/null || cjxl -d 0 -e 9 png/{}.png jxl/{}.jxl >/dev/null 2>&1'
echo -e "JPEG XL lossless (cjxl -d 0 -e 9)\t$(bpd "$(total_bytes jxl '*.jxl')" $pixels)\t$codec_images files" >> "$results"

fi

# ---- models ----
if [ "$only" != codecs ]; then
# Label-free test set for the marginal log P(x): the images file alone.
for kind in independent mixture pixelcnn; do
  model=${given[$kind]:-}
  note=""
  if [ -z "$model" ]; then
    model=$work/fmnist8-$kind.dgm
    cmd=("$dgm" train --config "$root/configs/fmnist8-$kind.json" -o "$model" --log "$work/$kind.jsonl" -q)
    if [ "$kind" = pixelcnn ]; then
      set +e
      /usr/bin/time -v timeout -s INT "$((minutes * 60))" "${cmd[@]}" 2> "$work/$kind.time"
      rc=$?
      set -e
      if [ $rc -eq 130 ] || [ $rc -eq 124 ]; then mv "$work/fmnist8-$kind.partial.dgm" "$model"; note="stopped after $minutes min; "; fi
    else
      /usr/bin/time -v "${cmd[@]}" 2> "$work/$kind.time"
    fi
    wall=$(grep -F "Elapsed (wall" "$work/$kind.time" | awk '{print $NF}')
    rss=$(grep -F "Maximum resident" "$work/$kind.time" | awk '{print $NF}')
    note="${note}trained here: wall $wall, peak RSS $((rss / 1024)) MB"
  fi
  bits=$("$dgm" eval -m "$model" -d "$fm/t10k-images-idx3-ubyte.gz" -n 0 --json |
         python3 -c "import json, sys; j = json.load(sys.stdin); print('%.4f' % j['bits_per_dim'])")
  start=$(date +%s.%N)
  "$dgm" sample -m "$model" -n 20 -s 1 > /dev/null
  end=$(date +%s.%N)
  rate=$(python3 -c "import sys; print('%.2f' % (20 / (float(sys.argv[2]) - float(sys.argv[1]))))" "$start" "$end")
  echo -e "dgm $kind\t$bits\t${note:+$note; }sampling $rate images/s; $model" >> "$results"
done
"$dgm" sample -m "${given[pixelcnn]:-$work/fmnist8-pixelcnn.dgm}" -n 100 -s 1 --sheet "$work/pixelcnn-sheet.png" > /dev/null
echo "contact sheet: $work/pixelcnn-sheet.png"
fi
column -t -s $'\t' "$results"
