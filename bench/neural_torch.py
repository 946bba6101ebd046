#!/usr/bin/python3
"""neural_torch.py — PyTorch reference implementations of FVSBN, MADE and NADE
with the same architectures and hyperparameters as dgm's (binarised
Fashion-MNIST at 128, H=500, batch 100, Adam lr 1e-3, last 10000 training
images held out for validation, nn.Linear-style uniform init). NADE uses a
hand-written backward pass (the running-sum recurrence, batched over the
minibatch), as in the issue's reference. Prints one JSON line.

Run with Debian's /usr/bin/python3 (torch + OpenBLAS), e.g.
  /usr/bin/python3 bench/neural_torch.py --model made --epochs 20 --threads 1
"""
import argparse, gzip, json, math, resource, sys, time

import numpy as np
import torch


def read_images(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    n, r, c = int.from_bytes(b[4:8], 'big'), int.from_bytes(b[8:12], 'big'), int.from_bytes(b[12:16], 'big')
    x = np.frombuffer(b, dtype=np.uint8, offset=16).reshape(n, r * c)
    return torch.from_numpy((x >= 128).astype(np.float32))


class MaskedLinear(torch.nn.Linear):
    def __init__(self, i, o, mask):
        super().__init__(i, o)
        self.register_buffer('mask', mask)
        with torch.no_grad():
            self.weight.mul_(mask)

    def forward(self, x):
        return torch.nn.functional.linear(x, self.weight * self.mask, self.bias)


def made(D, H, fvsbn, gen):
    if fvsbn:
        mask = torch.tril(torch.ones(D, D), -1)  # output d sees inputs < d
        return MaskedLinear(D, D, mask)
    order = torch.arange(1, D + 1)
    deg = torch.randint(1, D, (H,), generator=gen)
    m1 = (deg[:, None] >= order[None, :]).float()       # (H, D)
    m2 = (order[:, None] > deg[None, :]).float()        # (D, H)
    return torch.nn.Sequential(MaskedLinear(D, H, m1), torch.nn.ReLU(), MaskedLinear(H, D, m2))


class Nade:
    """p(x_d=1|x_<d) = sigmoid(b_d + V_d . sigmoid(c + W[:, :d] x_<d))."""

    def __init__(self, D, H, gen):
        bw, bv = 1 / math.sqrt(D), 1 / math.sqrt(H)
        self.W = ((torch.rand(D, H, generator=gen) * 2 - 1) * bw)  # row d = W[:, d]
        self.c = torch.zeros(H)
        self.V = ((torch.rand(D, H, generator=gen) * 2 - 1) * bv)
        self.b = torch.zeros(D)
        self.params = [self.W, self.c, self.V, self.b]

    def loss_grad(self, x):  # x (B, D); returns sum NLL, grads
        B, D = x.shape
        a = self.c.expand(B, -1).clone()
        hs = []
        nll = 0.0
        dV = torch.zeros_like(self.V)
        db = torch.zeros_like(self.b)
        dz_all = torch.empty(B, D)
        for d in range(D):
            h = torch.sigmoid(a)
            hs.append(h)
            z = h @ self.V[d] + self.b[d]
            nll += torch.nn.functional.binary_cross_entropy_with_logits(z, x[:, d], reduction='sum').item()
            dz_all[:, d] = torch.sigmoid(z) - x[:, d]
            a = a + x[:, d:d + 1] * self.W[d]
        dW = torch.zeros_like(self.W)
        da = torch.zeros(B, self.W.shape[1])
        for d in range(D - 1, -1, -1):
            dW[d] = x[:, d] @ da
            dz = dz_all[:, d]
            h = hs[d]
            dV[d] = dz @ h
            db[d] = dz.sum()
            da += (dz[:, None] * self.V[d]) * h * (1 - h)
        dc = da.sum(0)
        return nll, [dW, dc, dV, db]

    def log_prob(self, x):
        # In place (no (B, H) temporaries a position: 11% faster than
        # a = a + x[:, d:d+1] * W[d] with a BCE a position), one BCE at the end.
        B, D = x.shape
        a = self.c.expand(B, -1).clone()
        h = torch.empty_like(a)
        z = torch.empty(B, D)
        for d in range(D):
            torch.sigmoid(a, out=h)
            torch.mv(h, self.V[d], out=z[:, d])
            a.addr_(x[:, d], self.W[d])
        z += self.b
        return -torch.nn.functional.binary_cross_entropy_with_logits(z, x, reduction='none').double().sum(1)

    def sample(self, n, gen):
        D = self.W.shape[0]
        a = self.c.expand(n, -1).clone()
        x = torch.zeros(n, D)
        for d in range(D):
            p = torch.sigmoid(torch.sigmoid(a) @ self.V[d] + self.b[d])
            x[:, d] = (torch.rand(n, generator=gen) < p).float()
            a = a + x[:, d:d + 1] * self.W[d]
        return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default='made', choices=['fvsbn', 'made', 'nade'])
    ap.add_argument('--epochs', type=int, default=20)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--hidden', type=int, default=500)
    ap.add_argument('--max-batches', type=int, default=0, help='stop each epoch after this many minibatches (timing)')
    ap.add_argument('--samples', type=int, default=1000, help='images to sample (0: skip)')
    ap.add_argument('--score-images', type=int, default=-1, help='test images to score (-1: all, 0: skip)')
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    xtr = read_images(a.data + '/train-images-idx3-ubyte.gz')
    xte = read_images(a.data + '/t10k-images-idx3-ubyte.gz')
    xtr, xva = xtr[:50000], xtr[50000:]
    D, H, B = xtr.shape[1], a.hidden, 100

    if a.model == 'nade':
        net = Nade(D, H, gen)
        params = net.params
        opt = torch.optim.Adam(params, lr=1e-3)

        def step(x):
            nll, grads = net.loss_grad(x)
            for p, g in zip(params, grads):
                p.grad = g / x.shape[0]
            opt.step()
            return nll

        def score(x):
            return torch.cat([net.log_prob(x[i:i + 1000]) for i in range(0, len(x), 1000)])

        def sample(n):
            return net.sample(n, gen)
    else:
        net = made(D, H, a.model == 'fvsbn', gen)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        bce = torch.nn.functional.binary_cross_entropy_with_logits

        def step(x):
            opt.zero_grad()
            loss = bce(net(x), x, reduction='sum')
            (loss / x.shape[0]).backward()
            opt.step()
            return loss.item()

        @torch.no_grad()
        def score(x):
            return torch.cat([-bce(net(x[i:i + 1000]), x[i:i + 1000], reduction='none').sum(1).double()
                              for i in range(0, len(x), 1000)])

        @torch.no_grad()
        def sample(n):
            x = torch.zeros(n, D)
            for d in range(D):  # one full pass a position, as a user of torch would write it
                x[:, d] = (torch.rand(n, generator=gen) < torch.sigmoid(net(x)[:, d])).float()
            return x

    epochs = []
    for e in range(a.epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        t0, c0 = time.time(), time.process_time()
        tot, rows, nb = 0.0, 0, 0
        for i in range(0, len(xtr), B):
            x = xtr[perm[i:i + B]]
            tot += step(x)
            rows += len(x)
            nb += 1
            if a.max_batches and nb >= a.max_batches:
                break
        wall, cpu = time.time() - t0, time.process_time() - c0
        with torch.no_grad():
            va = -score(xva).mean().item() if not a.max_batches else float('nan')
        epochs.append({'epoch': e + 1, 'batches': nb, 'wall_s': wall, 'cpu_s': cpu,
                       'ms_per_batch': 1e3 * wall / nb, 'cpu_ms_per_batch': 1e3 * cpu / nb,
                       'train_nll': tot / rows, 'valid_nll': va})
        print(json.dumps(epochs[-1]), file=sys.stderr, flush=True)
    nte = 2000 if a.model == 'nade' and a.max_batches else len(xte)
    if a.score_images >= 0:
        nte = min(a.score_images, len(xte))
    test_nll = score_rate = score_cpu_rate = float('nan')
    if nte > 0:
        t0, c0 = time.time(), time.process_time()
        with torch.no_grad():
            test_nll = -score(xte[:nte]).mean().item()
        score_rate, score_cpu_rate = nte / (time.time() - t0), nte / (time.process_time() - c0)
    samp_rate = samp_cpu_rate = float('nan')
    if a.samples > 0:
        t0, c0 = time.time(), time.process_time()
        sample(a.samples)
        samp_rate, samp_cpu_rate = a.samples / (time.time() - t0), a.samples / (time.process_time() - c0)
    print(json.dumps({'impl': 'torch', 'torch': torch.__version__, 'model': a.model, 'hidden': H, 'threads': a.threads,
                      'epochs': epochs, 'test_nll': test_nll, 'test_rows': nte,
                      'score_images_per_s': score_rate, 'score_images_per_cpu_s': score_cpu_rate,
                      'sample_images_per_s': samp_rate, 'sample_images_per_cpu_s': samp_cpu_rate,
                      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == '__main__':
    main()
