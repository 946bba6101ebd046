#!/usr/bin/python3
# mixture_em_torch.py — the reference: the same EM as dgm's mixture model
# (src/models/mixture.cc) written plainly in PyTorch, float32, on binarized
# Fashion-MNIST (pixel >= 128 -> 1). Same initialisation scheme (K distinct
# random training samples, theta = ([x = v] + 1) / (1 + L), pi = 1/K), same MAP
# M-step with alpha pseudo-counts, same order (E-step on theta_0, then
# `iterations` x (M-step, E-step)). Run with Debian's /usr/bin/python3.
#   mixture_em_torch.py DATA_DIR THREADS [COMPONENTS] [ITERATIONS]
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


def main():
    data_dir, threads = sys.argv[1], int(sys.argv[2])
    K = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    alpha = 1.0
    torch.set_num_threads(threads)
    X = torch.from_numpy((read_images(f"{data_dir}/train-images-idx3-ubyte.gz") >= 128).astype(np.float32))
    Xt = torch.from_numpy((read_images(f"{data_dir}/t10k-images-idx3-ubyte.gz") >= 128).astype(np.float32))
    N, D = X.shape

    rng = np.random.default_rng(1)
    picks = torch.from_numpy(rng.choice(N, size=K, replace=False))
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
