#!/usr/bin/python3
# mixture_em_torch.py — the reference: the same EM as dgm's mixture model
# (src/models/mixture.cc) written plainly in PyTorch, float32, on binarized
# Fashion-MNIST (pixel >= 128 -> 1). Same initialisation (the very K training
# samples dgm draws, by dgm's RNG reimplemented below; theta = ([x = v] + 1) /
# (1 + L), pi = 1/K), same MAP
# M-step with alpha pseudo-counts, same order (E-step on theta_0, then
# `iterations` x (M-step, E-step)). Run with Debian's /usr/bin/python3.
#   mixture_em_torch.py DATA_DIR THREADS [COMPONENTS] [ITERATIONS] [SEED]
import gzip
import sys
import time

import numpy as np
import torch


def read_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


M64 = (1 << 64) - 1


class DgmRng:
    """dgm::Rng (include/dgm/rng.h): xoshiro256** seeded through splitmix64,
    so that this reference starts from exactly the components dgm picks."""

    def __init__(self, seed, stream=0):
        x = (seed ^ ((0x9E3779B97F4A7C15 * (stream + 1)) & M64)) & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        m = self.next() * n
        if (m & M64) < n:
            threshold = ((1 << 64) - n) % n
            while (m & M64) < threshold:
                m = self.next() * n
        return m >> 64

    def split(self, k):
        return DgmRng(self.next(), k)


def dgm_picks(seed, n, k):
    """The K distinct training rows dgm's mixture starts from (restart 0):
    a partial Fisher-Yates shuffle with Rng(seed).split(0)."""
    rng = DgmRng(seed).split(0)
    perm = list(range(n))
    for i in range(min(k, n)):
        j = i + rng.below(n - i)
        perm[i], perm[j] = perm[j], perm[i]
    return [perm[i % min(k, n)] for i in range(k)]


def main():
    data_dir, threads = sys.argv[1], int(sys.argv[2])
    K = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    alpha = 1.0
    torch.set_num_threads(threads)
    X = torch.from_numpy((read_images(f"{data_dir}/train-images-idx3-ubyte.gz") >= 128).astype(np.float32))
    Xt = torch.from_numpy((read_images(f"{data_dir}/t10k-images-idx3-ubyte.gz") >= 128).astype(np.float32))
    N, D = X.shape

    picks = torch.tensor(dgm_picks(seed, N, K))
    theta = (X[picks] + 1.0) / 3.0  # (K, D) P(x_d = 1 | k)
    log_pi = torch.full((K,), -np.log(K), dtype=torch.float32)

    def e_step(data, theta, log_pi):
        w = (torch.log(theta) - torch.log1p(-theta)).T  # (D, K)
        b = log_pi + torch.log1p(-theta).sum(1)         # (K)
        logits = data @ w + b                           # (N, K)
        ll = torch.logsumexp(logits, 1)                 # (N)
        return ll, torch.exp(logits - ll[:, None])

    t0, c0 = time.time(), time.process_time()
    stamps, cpu_stamps = [], []
    ll, r = e_step(X, theta, log_pi)
    for _ in range(iterations):
        nk = r.sum(0)                                  # (K)
        ones = r.T @ X                                 # (K, D)
        theta = (ones + alpha) / (nk[:, None] + 2 * alpha)
        log_pi = torch.log((nk + alpha) / (nk.sum() + K * alpha))
        ll, r = e_step(X, theta, log_pi)
        stamps.append(time.time())
        cpu_stamps.append(time.process_time())
    per_iter = np.diff([t0] + stamps)
    cpu_per_iter = np.diff([c0] + cpu_stamps)
    test_ll, _ = e_step(Xt, theta, log_pi)
    print(f"iterations={iterations}")
    print(f"sec_per_iter_median={np.median(per_iter):.4f}")
    print(f"cpu_sec_per_iter_median={np.median(cpu_per_iter):.4f}")
    print(f"fit_seconds={stamps[-1] - t0:.3f}")
    print(f"train_nll={-ll.double().mean().item():.4f}")
    print(f"test_nll={-test_ll.double().mean().item():.4f}")


if __name__ == "__main__":
    main()
