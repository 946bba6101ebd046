#!/usr/bin/python3
"""make_moving_fmnist.py — Moving Fashion-MNIST, in the manner of Moving MNIST
(Srivastava et al. 2015, "Unsupervised Learning of Video Representations
using LSTMs"): a Fashion-MNIST item, scaled to fit, moves with a constant
velocity inside a small canvas and bounces off its edges. Each clip is an
animated GIF of T frames (8-bit gray, and a binary copy thresholded at 128),
in a folder named by the item's class (0..9), so that the label is the class:

  OUT/8bit/train/<class>/000000.gif ... OUT/8bit/test/<class>/...
  OUT/binary/train/<class>/...          OUT/binary/test/<class>/...

Training clips use items of the Fashion-MNIST training file, test clips items
of its test file. Everything is drawn from one seed, so the same arguments
give the same bytes. Needs python3-numpy and Debian's dataset-fashion-mnist.

  scripts/make_moving_fmnist.py                       # data/moving-fmnist, 8 frames of 32x32
  scripts/make_moving_fmnist.py --frames 4 --size 12 --item 8 --train 8 --test 4 --out data/video
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

FMNIST = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def scale(item, size):
    """An item (28x28 bytes) resized to size x size: each output pixel is the
    mean of a 4x4 grid of nearest-neighbour samples over its footprint."""
    n = item.shape[0]
    # Each output pixel averages the input over its footprint, sampled 4x4.
    s = 4
    coords = (np.arange(size * s) + 0.5) * n / (size * s)
    idx = np.clip(np.floor(coords).astype(int), 0, n - 1)
    up = item[np.ix_(idx, idx)].astype(np.float64)
    return up.reshape(size, s, size, s).mean(axis=(1, 3))


def clip_frames(item, frames, size, rng):
    """T frames of a size x size canvas with the item bouncing inside it."""
    s = item.shape[0]
    room = size - s
    pos = rng.uniform(0, room, size=2)
    theta = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(1.0, 2.5) * size / 32
    vel = speed * np.array([np.cos(theta), np.sin(theta)])
    out = np.zeros((frames, size, size), dtype=np.uint8)
    for t in range(frames):
        y, x = int(round(pos[0])), int(round(pos[1]))
        out[t, y:y + s, x:x + s] = np.clip(np.round(item), 0, 255).astype(np.uint8)
        pos = pos + vel
        for k in range(2):  # bounce off the edges
            if pos[k] < 0:
                pos[k], vel[k] = -pos[k], -vel[k]
            if pos[k] > room:
                pos[k], vel[k] = 2 * room - pos[k], -vel[k]
    return out


def lzw(indices, min_code_size):
    """GIF's variable-width LZW (GIF89a spec, appendix F) of palette indices,
    as the bytes of the image data sub-blocks (without the code size byte)."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    acc = nbits = 0
    code_size = min_code_size + 1

    def emit(code):
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += code_size
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    table = {}
    next_code = eoi + 1
    emit(clear)
    prefix = int(indices[0])
    for k in indices[1:].tolist():
        key = (prefix << 8) | k
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix)
        if next_code == 4096:
            emit(clear)
            table.clear()
            next_code = eoi + 1
            code_size = min_code_size + 1
        else:
            if next_code >= (1 << code_size):
                code_size += 1
            table[key] = next_code
            next_code += 1
        prefix = k
    emit(prefix)
    emit(eoi)
    if nbits:
        out.append(acc & 0xFF)
    blocks = bytearray()
    for i in range(0, len(out), 255):
        chunk = out[i:i + 255]
        blocks.append(len(chunk))
        blocks += chunk
    blocks.append(0)
    return bytes(blocks)


def gif_bytes(frames, binary, fps):
    """An animated GIF89a of full frames (T, H, W) of bytes, looping forever,
    gray palette (256 grays, or black and white when binary)."""
    T, H, W = frames.shape
    bits = 1 if binary else 8
    palette = bytes([0, 0, 0, 255, 255, 255]) if binary else bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", W, H, 0x80 | 0x70 | (bits - 1), 0, 0)
    out += palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    delay = max(1, round(100 / fps))
    min_code = max(2, bits)
    for t in range(T):
        out += b"\x21\xf9\x04" + struct.pack("<BHBB", 0x04, delay, 0, 0)  # disposal: do not dispose
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, W, H, 0)
        idx = (frames[t] >= 128).astype(np.uint8) if binary else frames[t]
        out.append(min_code)
        out += lzw(idx.reshape(-1), min_code)
    out.append(0x3B)
    return bytes(out)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="data/moving-fmnist", help="output folder [data/moving-fmnist]")
    p.add_argument("--frames", type=int, default=8, help="frames a clip, T [8]")
    p.add_argument("--size", type=int, default=32, help="canvas side in pixels [32]")
    p.add_argument("--item", type=int, default=20, help="side of the scaled item in pixels [20]")
    p.add_argument("--train", type=int, default=10000, help="training clips [10000]")
    p.add_argument("--test", type=int, default=2000, help="test clips [2000]")
    p.add_argument("--fps", type=int, default=8, help="frames a second in the GIFs [8]")
    p.add_argument("--seed", type=int, default=1, help="random seed [1]")
    a = p.parse_args()
    if not (1 <= a.item <= a.size) or a.frames < 1 or a.train < 0 or a.test < 0:
        p.error("need 1 <= --item <= --size, --frames >= 1, clip counts >= 0")
    rng = np.random.default_rng(a.seed)
    for split, prefix, count in (("train", "train", a.train), ("test", "t10k", a.test)):
        images = read_idx(f"{FMNIST}/{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(f"{FMNIST}/{prefix}-labels-idx1-ubyte.gz")
        if count > len(images):
            sys.exit(f"make_moving_fmnist: --{split} {count}: the Fashion-MNIST {split} file has {len(images)} items")
        order = rng.permutation(len(images))[:count]
        for n, i in enumerate(order):
            frames = clip_frames(scale(images[i], a.item), a.frames, a.size, rng)
            name = f"{int(labels[i])}/{n:06d}.gif"
            write(f"{a.out}/8bit/{split}/{name}", gif_bytes(frames, False, a.fps))
            write(f"{a.out}/binary/{split}/{name}", gif_bytes(frames, True, a.fps))
        print(f"make_moving_fmnist: {count} {split} clips of {a.frames} frames of {a.size}x{a.size} "
              f"in {a.out}/{{8bit,binary}}/{split}", file=sys.stderr)


if __name__ == "__main__":
    main()
