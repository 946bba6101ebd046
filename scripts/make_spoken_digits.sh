#!/usr/bin/env bash
# make_spoken_digits.sh — a spoken-digits dataset in the manner of the Free
# Spoken Digit Dataset (Jackson et al. 2018): the words "zero" to "nine" said
# by espeak-ng in many voices (accents x voice variants), speeds and pitches,
# as 8 kHz mono 16-bit WAV files with leading and trailing silence trimmed
# (sox), one folder per digit so that the label is the digit:
#
#   OUT/train/<digit>/<accent>+<variant>-s<speed>-p<pitch>.wav
#   OUT/test/<digit>/...
#
# The split is by voice: the test set holds the voice variants listed in
# TEST_VARIANTS (in every accent), which the training set never has, so the
# test voices are unheard. Needs espeak-ng and sox (scripts/setup.sh installs them).
#
#   scripts/make_spoken_digits.sh                 # data/spoken-digits, 2400 clips (~3 min)
#   scripts/make_spoken_digits.sh OUT
# The lists can be narrowed from the environment, e.g. the test fixtures:
#   ACCENTS="en-us" VARIANTS="m1 f2" TEST_VARIANTS="m3" DIGITS="0 1" SPEEDS=200 PITCHES=50 BITS=8 \
#     scripts/make_spoken_digits.sh data/audio
set -euo pipefail

out=${1:-data/spoken-digits}
# Accents are espeak-ng voice files ("en", not the alias "en-gb", which drops
# the +variant; en-us-nyc says the digits as en-us does, en-gb-x-gbclan "eight" as en-029).
read -r -a accents <<< "${ACCENTS:-en en-us en-gb-scotland en-gb-x-rp en-029 en-gb-x-gbcwmd}"
read -r -a variants <<< "${VARIANTS:-m1 m2 m3 m4 m7 f1 f2 f3}"
read -r -a test_variants <<< "${TEST_VARIANTS:-m5 f5}"
read -r -a digits <<< "${DIGITS:-0 1 2 3 4 5 6 7 8 9}"
read -r -a speeds <<< "${SPEEDS:-175 225}"
read -r -a pitches <<< "${PITCHES:-35 65}"
bits=${BITS:-16}
words=(zero one two three four five six seven eight nine)

for tool in espeak-ng sox; do
  command -v "$tool" > /dev/null || { echo "make_spoken_digits: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
make_split() { # make_split SPLIT VARIANT...
  local split=$1
  shift
  for variant in "$@"; do
    for accent in "${accents[@]}"; do
      for d in "${digits[@]}"; do
        mkdir -p "$out/$split/$d"
        for s in "${speeds[@]}"; do
          for p in "${pitches[@]}"; do
            local name="$out/$split/$d/$accent+$variant-s$s-p$p.wav"
            espeak-ng -v "$accent+$variant" -s "$s" -p "$p" -w "$tmp/raw.wav" "${words[$d]}"
            # 8 kHz mono, no dither; trim silence below 0.5% at both ends.
            sox -D "$tmp/raw.wav" -r 8000 -c 1 -b "$bits" "$tmp/clip.wav" \
              silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
            mv "$tmp/clip.wav" "$name"
            count=$((count + 1))
          done
        done
      done
    done
  done
}
make_split train "${variants[@]}"
make_split test "${test_variants[@]}"
# Every clip must differ from every other (a voice that ignored its variant would not).
dups=$(find "$out" -name '*.wav' -exec md5sum {} + | sort | awk '{print $1}' | uniq -d | wc -l)
if [ "$dups" -ne 0 ]; then echo "make_spoken_digits: $dups clips are byte-identical to others; check the voices" >&2; exit 1; fi
echo "make_spoken_digits: $count clips in $out/train and $out/test" \
     "(${#accents[@]} accents; train variants ${variants[*]}; test variants ${test_variants[*]})" >&2
