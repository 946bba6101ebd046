"""transformer_torch.py — the PyTorch reference of dgm's transformer (bench/,
not part of the build): the same network (learned token and position
embeddings, pre-LayerNorm blocks, causal multi-head attention, tanh GELU MLP,
tied or untied head), the same loss (sum of token NLLs over a window, mean over
the batch), AdamW with decay on the matrices and embeddings only, global-norm
clipping and the warmup + cosine schedule — loaded from the initial parameters
that dgm wrote (bench/transformer_tool.cc init).

  transformer_torch.py train DIR [--threads N] [--time-steps M]
  transformer_torch.py sample DIR -n N [--threads N] [--sampler recompute|kv-cache]

Prints the same JSON lines as transformer_tool (per-step losses, then timings).
"""
import argparse
import json
import math
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(dir_):
    with open(dir_ + "/layout.json") as f:
        lay = json.load(f)
    flat = np.fromfile(dir_ + "/params.bin", dtype=np.float32)
    p = {}
    for b in lay["blocks"]:
        n = int(np.prod(b["shape"]))
        p[b["name"]] = torch.tensor(flat[b["offset"]:b["offset"] + n].reshape(b["shape"]), requires_grad=True)
    return lay, p


class Net:
    def __init__(self, lay, p):
        d = lay["describe"]
        self.W, self.H, self.L = d["width"], d["heads"], d["layers"]
        self.Vout, self.tied = d["vocabulary_out"], d["tied"]
        self.K = d["levels"]
        self.p = p

    def block_qkv(self, i, x):
        p, pre = self.p, "h%d." % i
        a = F.layer_norm(x, (self.W,), p[pre + "ln1_g"], p[pre + "ln1_b"], 1e-5)
        return a @ p[pre + "qkv_w"] + p[pre + "qkv_b"]

    def block_rest(self, i, x, att):
        p, pre = self.p, "h%d." % i
        x = x + att @ p[pre + "proj_w"] + p[pre + "proj_b"]
        b = F.layer_norm(x, (self.W,), p[pre + "ln2_g"], p[pre + "ln2_b"], 1e-5)
        h = F.gelu(b @ p[pre + "fc_w"] + p[pre + "fc_b"], approximate="tanh")
        return x + h @ p[pre + "out_w"] + p[pre + "out_b"]

    def head(self, x):
        p = self.p
        f = F.layer_norm(x, (self.W,), p["lnf_g"], p["lnf_b"], 1e-5)
        return f @ p["tok_emb"][: self.Vout].t() if self.tied else f @ p["head_w"]

    def split(self, t, B, T):
        return t.view(B, T, self.H, self.W // self.H).transpose(1, 2)  # (B, H, T, d)

    def forward(self, inp):
        """inp (B, T) tokens -> logits (B, T, V_out); attention over the causal T x T matrix."""
        B, T = inp.shape
        p = self.p
        x = p["tok_emb"][inp] + p["pos_emb"][:T]
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        for i in range(self.L):
            q, k, v = self.block_qkv(i, x).split(self.W, dim=2)
            q, k, v = self.split(q, B, T), self.split(k, B, T), self.split(v, B, T)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.W // self.H)
            s = s.masked_fill(~mask, float("-inf"))
            att = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, self.W)
            x = self.block_rest(i, x, att)
        return self.head(x)

    def step_cached(self, tok, t, cache):
        """One position t for B rows with a (layers) list of (k, v) caches (B, H, Tmax, d)."""
        p = self.p
        B = tok.shape[0]
        x = (p["tok_emb"][tok] + p["pos_emb"][t]).view(B, 1, self.W)
        for i in range(self.L):
            q, k, v = self.block_qkv(i, x).split(self.W, dim=2)
            q, k, v = self.split(q, B, 1), self.split(k, B, 1), self.split(v, B, 1)
            ck, cv = cache[i]
            ck[:, :, t] = k[:, :, 0]
            cv[:, :, t] = v[:, :, 0]
            s = (q @ ck[:, :, : t + 1].transpose(-1, -2)) / math.sqrt(self.W // self.H)
            att = (s.softmax(-1) @ cv[:, :, : t + 1]).transpose(1, 2).reshape(B, 1, self.W)
            x = self.block_rest(i, x, att)
        return self.head(x)[:, 0]


def lr_at(tr, step, total):
    base = tr["learning_rate"]
    lr = base
    w = tr.get("warmup_steps", 0)
    if w > 0 and step < w:
        lr *= (step + 1) / w
    if tr.get("schedule", "constant") == "cosine" and step >= w:
        r = tr.get("min_learning_rate", 0.0) / base
        prog = min(1.0, (step - w) / max(1, total - w))
        lr *= r + (1 - r) * 0.5 * (1 + math.cos(math.pi * prog))
    return lr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode")
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-steps", type=int, default=0)
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--sampler", default="recompute")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lay, p = load(a.dir)
    net = Net(lay, p)
    T, B, steps = lay["T"], lay["batch"], lay["steps"]
    K = net.K
    if a.mode == "train":
        data = torch.from_numpy(np.fromfile(a.dir + "/data.bin", dtype=np.int32).astype(np.int64)).view(steps * B, T)
        tr = lay["config"]["train"]
        decay = [v for k, v in p.items() if v.dim() >= 2]
        no_decay = [v for k, v in p.items() if v.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": tr.get("weight_decay", 0.0)},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=tr["learning_rate"], betas=(tr.get("beta1", 0.9), tr.get("beta2", 0.999)),
                                eps=tr.get("epsilon", 1e-8))
        wall, cpu = [], []
        for st in range(steps + a.time_steps):
            b = st % steps
            t0, c0 = time.perf_counter(), time.process_time()
            for g in opt.param_groups:
                g["lr"] = lr_at(tr, st, steps)
            x = data[b * B:(b + 1) * B]
            inp = torch.cat([torch.full((B, 1), K, dtype=torch.int64), x[:, :-1]], dim=1)  # the start token, then x
            logits = net.forward(inp)
            loss = F.cross_entropy(logits.reshape(-1, net.Vout), x.reshape(-1), reduction="sum") / B
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(list(p.values()), tr.get("clip_norm", 0.0)) \
                if tr.get("clip_norm", 0.0) > 0 else float("nan")
            opt.step()
            t1, c1 = time.perf_counter(), time.process_time()
            if st < steps:
                print(json.dumps({"step": st, "loss": float(loss), "grad_norm": float(norm)}))
            else:
                wall.append(1e3 * (t1 - t0))
                cpu.append(1e3 * (c1 - c0))
        if wall:
            print(json.dumps({"side": "torch", "threads": a.threads, "wall_ms": wall, "cpu_ms": cpu,
                              "median_wall_ms": float(np.median(wall)), "median_cpu_ms": float(np.median(cpu)),
                              "tokens_per_step": T * B,
                              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    elif a.mode == "sample":
        n = a.n
        g = torch.Generator().manual_seed(3)
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            seq = torch.full((n, 1), K, dtype=torch.int64)
            if a.sampler == "recompute":
                for t in range(T):
                    logits = net.forward(seq)[:, -1]
                    nxt = torch.multinomial(logits.softmax(-1), 1, generator=g)
                    seq = torch.cat([seq, nxt], dim=1)
            else:
                d = net.W // net.H
                cache = [(torch.zeros(n, net.H, T, d), torch.zeros(n, net.H, T, d)) for _ in range(net.L)]
                for t in range(T):
                    logits = net.step_cached(seq[:, -1], t, cache)
                    nxt = torch.multinomial(logits.softmax(-1), 1, generator=g)
                    seq = torch.cat([seq, nxt], dim=1)
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"side": "torch", "sampler": a.sampler, "threads": a.threads, "rows": n, "tokens": n * T,
                          "wall_s": sec, "cpu_s": cpu, "tokens_per_cpu_s": n * T / cpu,
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        sys.exit("unknown mode " + a.mode)


if __name__ == "__main__":
    main()
