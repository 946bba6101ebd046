#!/usr/bin/env bash
# setup.sh — installs dgm's build dependencies and data packages from Debian
# (apt-get, as root or through sudo), then configures and builds dgm in build/
# (with the Python module: pybind11, NumPy and pytest for its tests).
# The data packages include what the dataset scripts use: espeak-ng and sox
# (scripts/make_spoken_digits.sh), python3-numpy (scripts/make_moving_fmnist.py),
# flac (the audio codec comparison in bench/); the tests need none of them.
#   scripts/setup.sh              install, then build
#   scripts/setup.sh --no-build   install only
#   scripts/setup.sh --dev        also clang + libFuzzer + llvm-symbolizer (for
#                                 scripts/fuzz.sh and CI); combines with --no-build
#   scripts/setup.sh --mpi        also Open MPI (libopenmpi-dev, openmpi-bin), for
#                                 `mpirun -np P dgm train`; the build then enables it
#   scripts/setup.sh --no-plot    without PLplot (no 'dgm plot'; it pulls in Qt and
#                                 gfortran); builds with -DDGM_PLOT=OFF
#   scripts/setup.sh --no-media-data  without espeak-ng, sox and flac (about 15 MB:
#                                 only the spoken-digits script and bench/ use them)
# Environment: BUILD_DIR (default build), DGM_NATIVE=OFF for a portable binary.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config man-db python3-numpy
  pybind11-dev python3-dev python3-pytest
  libeigen3-dev libcli11-dev nlohmann-json3-dev libstb-dev libgtest-dev zlib1g-dev
  libsndfile1-dev libsamplerate0-dev libgif-dev
  libplplot-dev plplot-driver-cairo
  dataset-fashion-mnist bible-kjv bible-kjv-text
  espeak-ng sox flac
)

no_build=0
plot=ON
media_data=1
for arg in "$@"; do
  case "$arg" in
    --no-build) no_build=1 ;;
    --dev) packages+=(clang libclang-rt-14-dev llvm) ;;
    --mpi) packages+=(libopenmpi-dev openmpi-bin) ;;
    --no-plot) plot=OFF ;;
    --no-media-data) media_data=0 ;;
    *) echo "setup: unknown option $arg (known: --no-build, --dev, --mpi, --no-plot, --no-media-data)" >&2; exit 2 ;;
  esac
done

kept=()
for p in "${packages[@]}"; do
  case "$p" in
    libplplot-dev|plplot-driver-cairo) [ "$plot" = OFF ] && continue ;;
    espeak-ng|sox|flac) [ "$media_data" -eq 0 ] && continue ;;
  esac
  kept+=("$p")
done
packages=("${kept[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

[ "$no_build" -eq 1 ] && exit 0
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDGM_NATIVE="${DGM_NATIVE:-ON}" -DDGM_PLOT="$plot" >&2
cmake --build "$build" -j"$(nproc)" >&2
echo "setup: built $build/dgm" >&2
