#!/usr/bin/env bash
# media_bad_input.sh — malformed sound and video for `dgm score`, `dgm train`
# and `dgm sample --given`: truncated and corrupt WAV, FLAC and GIF files,
# zero-length audio, a clip at the wrong rate with resampling off, GIF frames
# of different sizes, absurd sample and frame counts and frame sizes. Each
# must exit 1 with exactly one stderr line "dgm: error: ..." naming the file,
# and leave no output file.
# Usage: media_bad_input.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
. "$src/tests/cli/lib.sh"
# patch FILE OFFSET HEXBYTES: overwrite bytes in place.
patch() { printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# ---- fixtures: a sound model (resampling off) and a video model ----
cat > sound.json <<JSON
{"space": {"labels": 2},
 "data": {"train": "$src/data/audio/train", "format": "wav", "frame": 1024, "resample": "off"},
 "model": {"type": "independent"}, "output": "sound.dgm"}
JSON
"$dgm" train --config sound.json --quiet || { echo "FAIL cannot train the sound model"; exit 1; }
cat > video.json <<JSON
{"space": {"shape": [4, 1, 12, 12], "levels": 256, "labels": 10},
 "data": {"train": "$src/data/video/8bit/train", "format": "gif"},
 "model": {"type": "independent"}, "output": "video.dgm"}
JSON
"$dgm" train --config video.json --quiet || { echo "FAIL cannot train the video model"; exit 1; }
clip=$src/data/audio/train/0/en-us+m1-s225-p50.wav
gif=$src/data/video/8bit/train/0/000004.gif
printf 'this is not sound, nor a picture\n' > junk.wav
cp junk.wav junk.gif
: > empty.wav

# ---- sound ----
head -c 1000 "$clip" > cut.wav
expect_error_without wav-truncated "cut.wav: truncated WAV" "" "$dgm" score -m sound.dgm cut.wav
expect_error_without wav-corrupt "junk.wav: not a sound file" "" "$dgm" score -m sound.dgm junk.wav
expect_error_without wav-empty "empty.wav: empty file" "" "$dgm" score -m sound.dgm empty.wav
head -c 44 "$clip" > zero.wav
patch zero.wav 40 00000000
patch zero.wav 4 24000000
expect_error_without wav-zero-length "zero.wav: zero-length audio" "" "$dgm" score -m sound.dgm zero.wav
cp "$clip" rate.wav
patch rate.wav 24 803e0000   # 16000 Hz
patch rate.wav 28 803e0000   # bytes a second (8-bit mono)
expect_error_without wav-wrong-rate "rate.wav: 16000 Hz, the space's rate is 8000 Hz" "" "$dgm" score -m sound.dgm rate.wav
"$dgm" sample -m sound.dgm -n 8 -f flac -o ok.flac
size=$(stat -c %s ok.flac)
head -c $((size * 2 / 3)) ok.flac > cut.flac
expect_error_without flac-truncated "cut.flac: truncated" "" "$dgm" score -m sound.dgm cut.flac
head -c 30 ok.flac > head.flac
expect_error_without flac-cut-in-header "head.flac: corrupt or truncated FLAC" "" "$dgm" score -m sound.dgm head.flac
# STREAMINFO (bytes 18..25: rate, channels, bits, 36-bit sample count) claiming 2^35 samples.
cp ok.flac huge.flac
b18=$(od -An -tx1 -j 18 -N 3 ok.flac | tr -d ' ')
b21=$(od -An -tx1 -j 21 -N 1 ok.flac | tr -d ' ')
patch huge.flac 18 "$b18"
patch huge.flac 21 "$(printf '%02x' $(( (0x$b21 & 0xf0) | 0x08 )))"
patch huge.flac 22 00000000
expect_error_without flac-absurd-length "huge.flac: the header claims 34359738368 samples" "" "$dgm" score -m sound.dgm huge.flac
mkdir -p bad/0 bad/1
cp "$src"/data/audio/train/0/*.wav bad/0/
cp cut.wav bad/1/
sed "s#$src/data/audio/train#$tmp/bad#; s#sound.dgm#bad.dgm#" sound.json > bad.json
expect_error_without train-on-a-truncated-clip "bad/1/cut.wav: truncated WAV" bad.dgm "$dgm" train --config bad.json --quiet
expect_error_without given-truncated-wav "cut.wav: truncated WAV" cont.wav "$dgm" sample -m sound.dgm --given cut.wav -f wav -o cont.wav

# ---- video ----
size=$(stat -c %s "$gif")
head -c $((size * 2 / 3)) "$gif" > cut.gif
expect_error_without gif-truncated "cut.gif: truncated GIF" "" "$dgm" score -m video.dgm cut.gif
expect_error_without gif-corrupt "junk.gif: not a GIF" "" "$dgm" score -m video.dgm -f gif junk.gif
# GIF surgery in python3 (GIF89a blocks): the second frame's image descriptor
# (after its graphics control extension) made 6x6 at (3,3); a screen and frames
# of 65535 x 65535; the first frame's blocks repeated 4000 times.
python3 - "$gif" <<'EOF'
import sys
g = bytearray(open(sys.argv[1], "rb").read())
gce = [i for i in range(len(g) - 2) if g[i:i + 3] == b"\x21\xf9\x04"]
desc = [i + 8 for i in gce]
assert all(g[d] == 0x2C for d in desc), desc
s = bytearray(g); s[desc[1] + 1:desc[1] + 9] = bytes([3, 0, 3, 0, 6, 0, 6, 0])
open("sizes.gif", "wb").write(s)
w = bytearray(g); w[6:10] = b"\xff\xff\xff\xff"
for d in desc: w[d + 5:d + 9] = b"\xff\xff\xff\xff"
open("wide.gif", "wb").write(w)
open("many.gif", "wb").write(bytes(g[:gce[0]]) + bytes(g[gce[0]:gce[1]]) * 4000 + b"\x3b")
EOF
expect_error_without gif-frames-of-different-sizes "sizes.gif: frame 2 is 6x6 at (3,3), the screen 12x12: frames of different sizes" "" \
  "$dgm" score -m video.dgm sizes.gif
expect_error_without gif-absurd-size "wide.gif: frames are 65535x65535" "" "$dgm" score -m video.dgm wide.gif
expect_error_without gif-absurd-frame-count "many.gif: 4000 frames, the space has 4" "" "$dgm" score -m video.dgm many.gif
expect_error_without given-truncated-gif "cut.gif: truncated GIF" cont.gif "$dgm" sample -m video.dgm --given cut.gif -o cont.gif
echo "$cases cases"
exit $fail
