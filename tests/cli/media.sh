#!/usr/bin/env bash
# media.sh — end to end for sound and video on the shipped fixtures
# (data/audio, data/video): train wavenet on spoken-digit frames and pixelcnn
# on Moving Fashion-MNIST clips from configs; sample WAV files (one file, a
# folder by label) and GIFs, sheets and frame folders; score clips (a line
# per frame, then the clip: the sum), a recording at another rate and with
# two channels, eval per clip, stats; continue a sound and a clip (--given);
# the transformer (a tensor model) on the same sound frames and clips.
# Usage: media.sh DGM_BINARY SOURCE_DIR
set -uo pipefail
dgm=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
fail=0
check() { # check NAME CMD...: CMD must succeed
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}
le32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# ---- sound ----
cat > sound.json <<JSON
{"space": {"labels": 2},
 "data": {"train": "$src/data/audio/train", "test": "$src/data/audio/test", "format": "wav",
          "rate": 8000, "companding": "mu-law", "frame": 1024, "hop": 1024},
 "model": {"type": "wavenet", "channels": 8, "skip": 8, "hidden": 16, "layers": 4, "cycle": 4},
 "train": {"epochs": 2, "batch_size": 4, "learning_rate": 0.01}, "output": "sound.dgm"}
JSON
check "train wavenet on sound" "$dgm" train --config sound.json --quiet
check "info names the audio codec" sh -c "'$dgm' info -m sound.dgm | grep -q 'codec        audio: 8000 Hz, mu-law'"
check "stats on sound" sh -c "'$dgm' stats --config sound.json | grep -q 'space         {0..255}^(1024) x {0..1}'"
"$dgm" sample -m sound.dgm -n 2 -f wav -o one.wav
check "sample: one WAV of 2 frames, 8 kHz, 16 bits" \
  sh -c "[ \"\$(head -c 4 one.wav)\" = RIFF ] && [ $(le32 one.wav 24 2>/dev/null || echo 0) -eq 8000 ] && [ \$(stat -c %s one.wav) -eq \$((44 + 2 * 1024 * 2)) ]"
"$dgm" sample -m sound.dgm -n 3 --label 1 -f wav -o byclass
check "sample --label 1: a folder of 3 WAVs in 1/" sh -c "[ \$(ls byclass/1 | wc -l) -eq 3 ] && [ ! -e byclass/0 ]"
clip=$src/data/audio/test/0/en-us+m3-s225-p50.wav
"$dgm" score -m sound.dgm "$clip" > scores.tsv
check "score: frames then the clip, whose log P is their sum" awk -F'\t' -v clip="$clip" '
  $1 ~ /#[0-9]+$/ { s += $2; n++; next }
  $1 == clip { items++; d = $2 - s; if (d < 0) d = -d; if (d > 1e-6 * (s < 0 ? -s : s)) bad = 1 }
  END { exit !(n >= 2 && items == 1 && !bad) }' scores.tsv
check "score --items: one line a clip" sh -c "[ \$('$dgm' score -m sound.dgm --items $src/data/audio/test | wc -l) -eq 2 ]"
check "score --json names the item" sh -c "'$dgm' score -m sound.dgm --json '$clip' | head -1 | grep -q '\"item\"'"
check "eval: NLL per clip and bits per sample" sh -c "'$dgm' eval -m sound.dgm -n 0 | grep -q '^clips ' && '$dgm' eval -m sound.dgm -n 0 | grep -q '^bits/sample'"
if command -v sox > /dev/null; then
  # A recording at 44.1 kHz in stereo: mixed down and resampled to the model's 8 kHz.
  sox "$clip" -r 44100 -c 2 -b 16 rec.wav
  check "score a 44.1 kHz stereo recording" sh -c "'$dgm' score -m sound.dgm --items rec.wav | grep -q '^rec.wav'"
  sox "$clip" start.wav trim 0 300s
  "$dgm" sample -m sound.dgm --given start.wav -f wav -o cont.wav
  check "sample --given start.wav: a frame continuing the start" sh -c "[ \$(stat -c %s cont.wav) -eq \$((44 + 1024 * 2)) ]"
fi

# ---- video ----
cat > video.json <<JSON
{"space": {"shape": [4, 1, 12, 12], "levels": 256, "labels": 10},
 "data": {"train": "$src/data/video/8bit/train", "test": "$src/data/video/8bit/test", "format": "gif", "fps": 4},
 "model": {"type": "pixelcnn", "channels": 8, "layers": 1, "kernel": 3, "first_kernel": 3, "mixtures": 2},
 "train": {"epochs": 2, "batch_size": 4, "learning_rate": 0.01}, "output": "video.dgm"}
JSON
check "train pixelcnn on video" "$dgm" train --config video.json --quiet
check "info names the video codec" sh -c "'$dgm' info -m video.dgm | grep -q 'codec        video'"
"$dgm" sample -m video.dgm -n 1 -o clip.gif
check "sample: one GIF" sh -c "[ \"\$(head -c 6 clip.gif)\" = GIF89a ]"
check "score the sampled GIF" sh -c "[ \$('$dgm' score -m video.dgm clip.gif | wc -l) -eq 1 ]"
"$dgm" sample -m video.dgm -n 3 -o clips
check "sample -o DIR: a GIF a clip in label folders" sh -c "[ \$(find clips -name '*.gif' | wc -l) -eq 3 ]"
"$dgm" sample -m video.dgm -n 3 -f sheet -o sheet.png
check "sample -f sheet: a PNG" sh -c "head -c 8 sheet.png | od -An -c | grep -q 'P   N   G'"
"$dgm" sample -m video.dgm -n 1 -f frames -o frames
first=$(find frames -name 00.png | head -1)
"$dgm" sample -m video.dgm --given "$first" -f frames -o cont --seed 7
check "sample --given FRAME: the clip starts with the given frame" sh -c "cmp -s '$first' \"\$(find cont -name 00.png | head -1)\""
check "sample --given a GIF of the model's length: nothing to continue" sh -c "! '$dgm' sample -m video.dgm --given clip.gif -o c2.gif 2> err.txt && grep -q 'nothing is left to continue' err.txt && [ ! -e c2.gif ]"
check "eval on video" sh -c "'$dgm' eval -m video.dgm -n 20 | grep -q 'label unknown'"
# Binary clips through a plain tensor model.
cat > binary.json <<JSON
{"space": {"shape": [4, 1, 12, 12], "levels": 2, "labels": 10},
 "data": {"train": "$src/data/video/binary/train", "format": "gif"},
 "model": {"type": "independent"}, "output": "binary.dgm"}
JSON
check "train independent on binary clips" "$dgm" train --config binary.json --quiet
"$dgm" sample -m binary.dgm -n 1 -f gif -o b.gif
check "binary GIF scores back" sh -c "[ \$('$dgm' score -m binary.dgm b.gif | wc -l) -eq 1 ]"

# ---- the transformer on sound frames and on clips, as on any tensor space ----
sed 's/"model": {[^}]*}/"model": {"type": "transformer", "layers": 1, "heads": 2, "width": 16, "context": 64, "stride": 32}/; s/sound.dgm/sound-tf.dgm/; s/"learning_rate": 0.01/"learning_rate": 0.01, "optimizer": "adamw"/' \
  sound.json > sound-tf.json
check "train transformer on sound frames" "$dgm" train --config sound-tf.json --quiet
check "transformer: under 8 bits/sample on the unheard voice" sh -c "'$dgm' eval -m sound-tf.dgm -n 0 | awk '/^bits\/sample/ { b = \$2 } END { exit !(b > 0 && b < 7.5) }'"
"$dgm" sample -m sound-tf.dgm -n 1 --label 0 -f wav -o tf.wav
check "transformer: a WAV that scores back" sh -c "[ \"\$(head -c 4 tf.wav)\" = RIFF ] && [ \$('$dgm' score -m sound-tf.dgm --items tf.wav | wc -l) -eq 1 ]"
sed 's/"model": {[^}]*}/"model": {"type": "transformer", "layers": 1, "heads": 2, "width": 16, "context": 64, "stride": 32}/; s/video.dgm/video-tf.dgm/' \
  video.json > video-tf.json
check "train transformer on clips" "$dgm" train --config video-tf.json --quiet
"$dgm" sample -m video-tf.dgm --given "$first" -f frames -o tf-cont --seed 3
check "transformer: --given FRAME continues the clip" sh -c "cmp -s '$first' \"\$(find tf-cont -name 00.png | head -1)\" && [ \$(find tf-cont -name '*.png' | wc -l) -eq 4 ]"
exit $fail
