#!/usr/bin/python3
"""pixelcnn_torch.py — the PyTorch reference of dgm's PixelCNN
(configs/fmnist8-pixelcnn.json: 1x28x28 at 256 levels, 10 labels, a 7x7 mask-A
layer, 5 residual 3x3 mask-B layers of 48 channels, two 1x1 layers, a bias per
layer and label, a discretized logistic mixture of 5 components: 65,637
parameters), written as a PyTorch user writes it: nn.Conv2d weights of the
full kernel times a mask.

  --check DIR   load the parameters dgm wrote (bench/models_bench --export DIR:
                params.f32, params.json), score the first 64 test images in
                float64 from the float32 network, compare with dgm's
                log-likelihoods (scores.f64); exit 1 past 1e-6 relative
  --steps N     N training steps of batch 32 (Adam 2e-3, gradient norm clipped
                at 100, as the config), ms a step
  --sample N    N images at once with the cached sampler (Ramachandran et al.
                2017: every layer computed at the new pixel only, from cached
                activations), the mixture sampled by its definition
One JSON line; run with Debian's /usr/bin/python3 (torch on OpenBLAS).
"""
import argparse, gzip, json, math, resource, sys, time

import numpy as np
import torch
import torch.nn.functional as Fn

C, H, W, K, L, F, R, M = 1, 28, 28, 256, 10, 48, 5, 5
P = 3 * M
MIN_LOG_SCALE = -7.0


def read_idx(path, n, offset=16):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    return np.frombuffer(b, dtype=np.uint8, offset=offset)


def load_fmnist(d, split, n):
    x = read_idx(f'{d}/{split}-images-idx3-ubyte.gz', n).reshape(-1, 1, H, W)[:n]
    y = read_idx(f'{d}/{split}-labels-idx1-ubyte.gz', n, offset=8)[:n]
    return torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))


def taps(k, mask_a):
    """dgm's tap order: rows above, then the pixels to the left, the centre for mask B (one channel)."""
    h = k // 2
    t = []
    for dy in range(-h, 1):
        for dx in range(-h, h + 1):
            if dy == 0 and dx > 0:
                break
            if dy == 0 and dx == 0 and mask_a:
                continue
            t.append((dy, dx))
    return t


class MaskedConv(torch.nn.Module):
    def __init__(self, fin, fout, k, mask_a):
        super().__init__()
        self.k, self.taps = k, taps(k, mask_a)
        self.weight = torch.nn.Parameter(torch.zeros(fout, fin, k, k))
        self.bias = torch.nn.Parameter(torch.zeros(fout))
        self.label_bias = torch.nn.Parameter(torch.zeros(L, fout))
        mask = torch.zeros(fout, fin, k, k)
        for dy, dx in self.taps:
            mask[:, :, dy + k // 2, dx + k // 2] = 1
        self.register_buffer('mask', mask)
        with torch.no_grad():
            self.weight.normal_(0, 0.05).mul_(mask)

    def parameters_used(self):
        return int(self.mask.sum()) + self.bias.numel() + self.label_bias.numel()

    def forward(self, x, y):
        out = Fn.conv2d(x, self.weight * self.mask, self.bias, padding=self.k // 2)
        return out + self.label_bias[y][:, :, None, None]

    def load_dgm(self, w, b, q):
        """w (T*fin, fout) rows t*fin + k; b (fout); q (L, fout)."""
        fin = self.weight.shape[1]
        with torch.no_grad():
            self.weight.zero_()
            for t, (dy, dx) in enumerate(self.taps):
                self.weight[:, :, dy + self.k // 2, dx + self.k // 2] = torch.from_numpy(w[t * fin:(t + 1) * fin].T)
            self.bias.copy_(torch.from_numpy(b))
            self.label_bias.copy_(torch.from_numpy(q))


class PixelCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList([MaskedConv(C, F, 7, True)] + [MaskedConv(F, F, 3, False) for _ in range(R)] +
                                          [MaskedConv(F, F, 1, False), MaskedConv(F, C * P, 1, False)])

    def forward(self, x, y):  # x (n, 1, H, W) integer levels
        h = self.layers[0](x.float() * (2.0 / (K - 1)) - 1.0, y)
        for r in range(1, R + 1):
            h = h + self.layers[r](torch.relu(h), y)
        o1 = self.layers[R + 1](torch.relu(h), y)
        return self.layers[R + 2](torch.relu(o1), y)


def softplus(u):  # exact, in whatever precision u has (torch's has a threshold at 20)
    return u.clamp(min=0) + torch.log1p(torch.exp(-u.abs()))


def dlm_log_prob(out, x):
    """log P(x) per image, out (n, 3M, H, W), x (n, 1, H, W); dgm's head (src/nn/head.cc)."""
    logit, mu, ls = out[:, :M], out[:, M:2 * M], out[:, 2 * M:].clamp(min=MIN_LOG_SCALE)
    h = 1.0 / (K - 1)
    c = 2.0 * x.to(out.dtype) * h - 1.0
    inv_s = torch.exp(-ls)
    a, b = (c + h - mu) * inv_s, (c - h - mu) * inv_s
    mid = -softplus(-a) - softplus(b) + torch.log(-torch.expm1(b - a))
    lcdf = torch.where(x == 0, -softplus(-a), torch.where(x == K - 1, -softplus(b), mid))
    lp = torch.logsumexp(torch.log_softmax(logit, dim=1) + lcdf, dim=1)
    return lp.flatten(1).sum(1)


def load_dgm_params(net, d):
    meta = json.load(open(f'{d}/params.json'))
    flat = np.fromfile(f'{d}/params.f32', dtype=np.float32)
    blocks = {b['name']: flat[b['offset']:b['offset'] + int(np.prod(b['shape']))].reshape(b['shape'])
              for b in meta['blocks']}
    names = ['in'] + [f'res{r}' for r in range(1, R + 1)] + ['hidden', 'out']
    for layer, name in zip(net.layers, names):
        layer.load_dgm(blocks[name + '.w'], blocks[name + '.b'], blocks[name + '.q'])
    return meta['parameters']


@torch.no_grad()
def sample_cached(net, n, gen):
    """Ramachandran et al. 2017: each layer's activations are cached, and a new
    pixel costs each layer at that pixel only (its masked kernel's rows above
    and its own row)."""
    y = torch.randint(0, L, (n,), generator=gen)
    pads = [ly.k // 2 for ly in net.layers]
    p = max(pads)
    x = torch.zeros(n, C, H + 2 * p, W + 2 * p)     # scaled inputs
    acts = [torch.zeros(n, F, H + 2 * p, W + 2 * p) for _ in range(R + 1)]  # relu(h_r)
    hs = [torch.zeros(n, F) for _ in range(R + 1)]
    # Masked kernels cut to the rows that can be nonzero (dy <= 0).
    ker = [(ly.weight * ly.mask)[:, :, :ly.k // 2 + 1, :] for ly in net.layers]
    bias = [ly.bias + ly.label_bias[y] for ly in net.layers]  # (n, fout)
    out = torch.zeros(n, H, W, dtype=torch.long)
    for r in range(H):
        for c in range(W):
            pr, pc = r + p, c + p
            k0 = net.layers[0].k // 2
            patch = x[:, :, pr - k0:pr + 1, pc - k0:pc + k0 + 1]
            h = torch.einsum('nkij,okij->no', patch, ker[0]) + bias[0]
            acts[0][:, :, pr, pc] = torch.relu(h)
            for l in range(1, R + 1):
                kk = net.layers[l].k // 2
                patch = acts[l - 1][:, :, pr - kk:pr + 1, pc - kk:pc + kk + 1]
                h = h + torch.einsum('nkij,okij->no', patch, ker[l]) + bias[l]
                acts[l][:, :, pr, pc] = torch.relu(h)
            o1 = torch.relu(torch.relu(h) @ ker[R + 1][:, :, 0, 0].T + bias[R + 1])
            o = o1 @ ker[R + 2][:, :, 0, 0].T + bias[R + 2]   # (n, 3M)
            logit, mu, ls = o[:, :M].double(), o[:, M:2 * M].double(), o[:, 2 * M:].double().clamp(min=MIN_LOG_SCALE)
            j = torch.multinomial(torch.softmax(logit, 1), 1, generator=gen)[:, 0]
            u = torch.rand(n, generator=gen, dtype=torch.float64)
            v = mu.gather(1, j[:, None])[:, 0] + torch.exp(ls.gather(1, j[:, None])[:, 0]) * (torch.log(u) - torch.log1p(-u))
            v = torch.floor((v + 1) * 0.5 * (K - 1) + 0.5).clamp(0, K - 1).long()
            out[:, r, c] = v
            x[:, 0, pr, pc] = v.float() * (2.0 / (K - 1)) - 1.0
    return out, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--check')
    ap.add_argument('--steps', type=int, default=0)
    ap.add_argument('--sample', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    net = PixelCnn()
    res = {'impl': 'torch', 'torch': torch.__version__, 'model': 'pixelcnn', 'threads': a.threads,
           'parameters': sum(ly.parameters_used() for ly in net.layers)}
    if a.check:
        res['dgm_parameters'] = load_dgm_params(net, a.check)
        x, y = load_fmnist(a.data, 't10k', 64)
        with torch.no_grad():
            lp = dlm_log_prob(net(x, y).double(), x).numpy()
        ref = np.fromfile(f'{a.check}/scores.f64', dtype=np.float64)
        rel = np.abs(lp - ref) / np.abs(ref)
        res.update({'images': len(ref), 'max_rel_diff': float(rel.max()), 'mean_nll': float(-lp.mean()),
                    'dgm_mean_nll': float(-ref.mean())})
    if a.steps:
        x, y = load_fmnist(a.data, 'train', 32 * a.steps)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        t0, c0 = time.time(), time.process_time()
        for s in range(a.steps):
            xb, yb = x[32 * s:32 * (s + 1)], y[32 * s:32 * (s + 1)]
            opt.zero_grad()
            loss = -dlm_log_prob(net(xb, yb), xb).sum() / len(xb)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 100.0)
            opt.step()
        res.update({'ms_per_batch': 1e3 * (time.time() - t0) / a.steps,
                    'cpu_ms_per_batch': 1e3 * (time.process_time() - c0) / a.steps, 'batch': 32, 'batches': a.steps})
    if a.sample:
        t0, c0 = time.time(), time.process_time()
        sample_cached(net, a.sample, gen)
        res.update({'sample_images_per_s': a.sample / (time.time() - t0),
                    'sample_images_per_cpu_s': a.sample / (time.process_time() - c0)})
    res['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))
    if a.check and res['max_rel_diff'] > 1e-6:
        print(f"pixelcnn_torch: log-likelihoods differ from dgm's by {res['max_rel_diff']:.2e} relative", file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
