#!/usr/bin/python3
"""PyTorch peer of `vkflow bench train models/ddgan_small.cfg`: the same
conditional denoising-diffusion GAN (models/ddgan_small.cfg with
models/ddgan_body.inc; driver engine/train/driver_diffusion.c) on the same
UGR16-like shapes as tools/bench_gan.c, eager mode, timed the same way (mean
over N iterations after 2 warm-up iterations).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 /usr/bin/python3 tools/bench/ddgan_torch.py [--iters N] [--threads T] [--model small] [--count]

Shapes: batch 64, attr 181 (64 2-way softmaxes, 30 tanh, 1 sigmoid, 11 2-way
softmaxes), feat 9 (4 sigmoid, a 5-way softmax) per record, max_len 34, so the
feature stage diffuses W = 34 * (9 + 2) = 374 columns (features, then 2 flags
per record, sigmoid). Data as bench_gan.c binds them: 1000 flows, uniform
attributes and features, a random length per flow, flags [next, cur - next].

One iteration, per stage (attr_, then feat_ given the real attributes):
  pairs (t ~ U{0..T-1} per row; Gaussian columns q_sample_pairs, categorical
  softmax segments masked diffusion; posterior coefficients c1, c2, sd; a
  16-wide sinusoidal time embedding), built with torch ops;
  D step: non-saturating loss, fakes from G under no_grad (vkflow's d_step
  builds no G backward either); every lazy_reg-th iteration (iteration
  counter from 0, warm-ups included, as vkflow's) + R1 on x_t, weight 0.025,
  via torch.autograd.grad(create_graph=True);
  pairs redrawn; G step: non-saturating loss through the heads, the posterior
  and D (D's parameters frozen, as DDGAN does); EMA of G (decay 0.999).
Networks: G 3x128 MLP (leaky ReLU 0.2) [x_{t+1}, z (16), temb (16)(, attrs)]
-> W; D 2x128 MLP [x_t, x_{t+1}, temb(, attrs)] -> 1; Adam (0.5, 0.9), lr 2e-4.
Parameters: 443181, as `vkflow check models/ddgan_small.cfg` reports.

Under masked diffusion the model file's multinomial posterior term
(mult * heads(log(lik * (ab x0hat + prior)))) is multiplied by mult = 0;
vkflow's graph computes it anyway, the peer leaves it out unless --mult-term
(favouring the peer).

--count: parameter count and the matmuls (aten mm / addmm / bmm / matmul
calls) of one plain iteration and of one R1 iteration, then exit."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn

# bench_gan.c's shapes; models/ddgan_small.cfg's sizes (the only preset: models/ddgan.cfg did not
# exist when this peer was written)
B, A, F, L, NFLOWS = 64, 181, 9, 34, 1000
SIZES = {"small": dict(units=128, nz=16, temb=16, T=4, lazy_reg=10)}
FW = L * (F + 2)
BETA_MIN, BETA_MAX, R1_W, EMA = 0.1, 20.0, 0.025, 0.999


def attr_heads(x):
    ip = torch.softmax(x[:, :128].reshape(-1, 64, 2), -1).reshape(-1, 128)
    w2v = torch.tanh(x[:, 128:158])
    st = torch.sigmoid(x[:, 158:159])
    tags = torch.softmax(x[:, 159:181].reshape(-1, 11, 2), -1).reshape(-1, 22)
    return torch.cat([ip, w2v, st, tags], 1)


def feat_heads(x):
    """[B, W] -> per record sigmoid (4) | softmax (5), flags sigmoid."""
    r = x[:, :L * F].reshape(-1, F)
    f = torch.cat([torch.sigmoid(r[:, :4]), torch.softmax(r[:, 4:], 1)], 1).reshape(-1, L * F)
    return torch.cat([f, torch.sigmoid(x[:, L * F:])], 1)


def feat_post_heads(x):
    """the model file's feat_post: heads on the records, flags passed through"""
    r = x[:, :L * F].reshape(-1, F)
    f = torch.cat([torch.sigmoid(r[:, :4]), torch.softmax(r[:, 4:], 1)], 1).reshape(-1, L * F)
    return torch.cat([f, x[:, L * F:]], 1)


def mlp(i, hidden, n, out):
    layers = []
    for _ in range(n):
        layers += [nn.Linear(i, hidden), nn.LeakyReLU(0.2)]
        i = hidden
    layers.append(nn.Linear(i, out))
    return nn.Sequential(*layers)


def schedule(T):
    """DDGAN's VP schedule (vf_ddgan_schedule): beta[0..T], keep = cumprod(1 - beta)."""
    beta, prev = [], 0.0
    for i in range(T + 1):
        t = 1e-3 + (1 - 1e-3) * i / T
        ab = math.exp(-BETA_MIN * t - 0.5 * (BETA_MAX - BETA_MIN) * t * t)
        beta.append(1e-8 if i == 0 else float(torch.tensor(1 - ab / prev, dtype=torch.float32)))
        prev = ab
    keep, k = [], 1.0
    for b in beta:
        k *= 1 - b
        keep.append(k)
    return beta, keep


class Stage:
    """Column kinds, scale/shift, the schedule's per-t coefficients, and the networks of one stage."""

    def __init__(self, name, W, cont_cols, cat_segs, cond, sz, heads, post_heads):
        self.name, self.W, self.cond, self.heads, self.post_heads = name, W, cond, heads, post_heads
        self.T, self.E, self.nz = sz["T"], sz["temb"], sz["nz"]
        is_cat = torch.zeros(W, dtype=torch.bool)
        seg_of = torch.zeros(W, dtype=torch.long)
        for s, (o, w) in enumerate(cat_segs):
            is_cat[o:o + w] = True
            seg_of[o:o + w] = s
        self.is_cat, self.seg_of, self.n_seg = is_cat, seg_of, len(cat_segs)
        self.scale = torch.ones(W)
        self.shift = torch.zeros(W)
        for o, w in cont_cols:   # unit columns (sigmoid): [0, 1] -> [-1, 1]; tanh ones stay
            self.scale[o:o + w], self.shift[o:o + w] = 2.0, -1.0
        beta, keep = schedule(self.T)
        ts = range(self.T)
        c1, c2, var = [], [], []
        for t in ts:   # vf_ddgan_posterior
            ab, abp = 1.0, 1.0
            for i in range(1, t + 2):
                abp, ab = ab, ab * (1 - beta[i])
            b = beta[t + 1]
            c1.append(b * math.sqrt(abp) / (1 - ab))
            c2.append((1 - abp) * math.sqrt(1 - b) / (1 - ab))
            v = b * (1 - abp) / (1 - ab)
            var.append(0.0 if t == 0 else max(v, 1e-20))
        f = lambda v: torch.tensor(v, dtype=torch.float32)
        self.sq_kt = f([math.sqrt(keep[t]) for t in ts])
        self.sq_1mkt = f([math.sqrt(1 - keep[t]) for t in ts])
        self.sq_a = f([math.sqrt(1 - beta[t + 1]) for t in ts])
        self.sq_1ma = f([math.sqrt(beta[t + 1]) for t in ts])
        self.kn = f([keep[t + 1] for t in ts])
        self.reveal = f([min(1.0, max(0.0, (keep[t] - keep[t + 1]) / (1 - keep[t + 1]))) for t in ts])
        self.c1, self.c2, self.sd = f(c1), f(c2), f([math.sqrt(v) for v in var])
        h = self.E // 2
        self.freq = torch.exp(-math.log(10000.0) * torch.arange(h, dtype=torch.float64) / max(h, 1))
        ca = A if cond else 0
        units = sz["units"]
        self.G = mlp(W + self.nz + self.E + ca, units, 3, W)
        self.D = mlp(2 * W + self.E + ca, units, 2, 1)
        self.G_ema = [p.detach().clone() for p in self.G.parameters()]
        self.oG = torch.optim.Adam(self.G.parameters(), 2e-4, betas=(0.5, 0.9), eps=1e-8, foreach=True)
        self.oD = torch.optim.Adam(self.D.parameters(), 2e-4, betas=(0.5, 0.9), eps=1e-8, foreach=True)

    def pairs(self, x0):
        """ddgan_pairs: t, temb, x_t, x_{t+1}, c1, c2, sd per element (masked categorical)."""
        t = torch.clamp((torch.rand(B) * self.T).long(), max=self.T - 1)
        a = t.double().unsqueeze(1) * self.freq
        temb = torch.cat([torch.sin(a), torch.cos(a)], 1).float()
        n1, n2 = torch.randn(B, self.W), torch.randn(B, self.W)
        col = lambda v: v[t].unsqueeze(1)
        xt_g = col(self.sq_kt) * x0 + col(self.sq_1mkt) * n1
        xn_g = col(self.sq_a) * xt_g + col(self.sq_1ma) * n2
        kept = (torch.rand(B, self.n_seg) < col(self.kn))[:, self.seg_of]   # one draw per segment
        r = col(self.reveal)
        cat = self.is_cat
        xn = torch.where(cat, torch.where(kept, x0, torch.zeros(())), xn_g)
        xt = torch.where(cat, torch.where(kept, x0, r * x0), xt_g)
        keptf = kept.float()
        c1 = torch.where(cat, (1 - keptf) * r, col(self.c1).expand(B, self.W))
        c2 = torch.where(cat, keptf, col(self.c2).expand(B, self.W))
        sd = torch.where(cat, torch.zeros(()), col(self.sd).expand(B, self.W))
        return dict(xt=xt, xn=xn, temb=temb, c1=c1, c2=c2, sd=sd)

    def fake(self, p, cond, mult_term):
        """G(x_{t+1}, z, t[, c]) -> heads -> x0hat -> posterior sample (the fake x_t)."""
        g_in = [p["xn"], torch.randn(B, self.nz), p["temb"]] + ([cond] if self.cond else [])
        x0hat = self.heads(self.G(torch.cat(g_in, 1))) * self.scale + self.shift
        fake = p["c1"] * x0hat + p["c2"] * p["xn"] + p["sd"] * torch.randn(B, self.W)
        if mult_term:   # lik = ab = prior = 0 and mult = 0 under masked diffusion; computed as the graph does
            zero = torch.zeros(B, self.W)
            lp = torch.log(torch.clamp(zero * (zero * x0hat + zero), min=1e-30))
            fake = fake + torch.zeros(self.W) * self.post_heads(lp)
        return fake

    def d_in(self, x, p, cond):
        return torch.cat([x, p["xn"], p["temb"]] + ([cond] if self.cond else []), 1)

    def step(self, x0, cond, r1, mult_term):
        p = self.pairs(x0)
        with torch.no_grad():
            fake = self.fake(p, cond, mult_term)
        xt = p["xt"].requires_grad_(r1)
        d_real = self.D(self.d_in(xt, p, cond))
        d_fake = self.D(self.d_in(fake, p, cond))
        loss = Fn.softplus(-d_real).mean() + Fn.softplus(d_fake).mean()
        if r1:
            g, = torch.autograd.grad(d_real.sum(), xt, create_graph=True)
            loss = loss + R1_W * g.pow(2).sum(1).mean()
        self.oD.zero_grad(set_to_none=True)
        loss.backward()
        self.oD.step()
        p = self.pairs(x0)   # the G step redraws t and the pair
        for q in self.D.parameters():
            q.requires_grad_(False)
        g_loss = Fn.softplus(-self.D(self.d_in(self.fake(p, cond, mult_term), p, cond))).mean()
        self.oG.zero_grad(set_to_none=True)
        g_loss.backward()
        self.oG.step()
        for q in self.D.parameters():
            q.requires_grad_(True)
        with torch.no_grad():
            params = list(self.G.parameters())
            torch._foreach_mul_(self.G_ema, EMA)
            torch._foreach_add_(self.G_ema, params, alpha=1 - EMA)


def data():
    """bench_gan.c's flows: uniform attributes and features, lengths 1..34; fields as the trainer fills them."""
    attr, feat = torch.rand(NFLOWS, A), torch.rand(NFLOWS, L, F)
    length = 1 + (torch.rand(NFLOWS) * L).long().clamp(max=L - 1)
    on = (torch.arange(L).unsqueeze(0) < length.unsqueeze(1)).float()
    nxt = torch.cat([on[:, 1:], torch.zeros(NFLOWS, 1)], 1)
    flag = torch.stack([nxt, on - nxt], 2)
    return attr, (feat * on.unsqueeze(2)).reshape(NFLOWS, L * F), flag.reshape(NFLOWS, 2 * L)


def count_matmuls(fn):
    from torch.utils._python_dispatch import TorchDispatchMode
    names = {"mm", "addmm", "bmm", "matmul", "baddbmm", "addmv", "mv"}

    class Counter(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.split(".")[0] in names:
                Counter.n += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        fn()
    return Counter.n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="small", choices=sorted(SIZES))
    ap.add_argument("--mult-term", action="store_true", help="also compute the (zero) multinomial posterior term")
    ap.add_argument("--count", action="store_true", help="print parameters and matmuls per iteration, then exit")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    sz = SIZES[a.model]
    attr_cat = [(2 * i, 2) for i in range(64)] + [(159 + 2 * i, 2) for i in range(11)]
    feat_cat = [(r * F + 4, 5) for r in range(L)]
    feat_unit = [(r * F, 4) for r in range(L)] + [(L * F, 2 * L)]
    st = [Stage("attr_", A, [(158, 1)], attr_cat, False, sz, attr_heads, attr_heads),
          Stage("feat_", FW, feat_unit, feat_cat, True, sz, feat_heads, feat_post_heads)]
    real_attr, real_feat, real_flag = data()
    n_it = [0]

    def it():
        i = torch.randint(0, NFLOWS, (B,))
        ra = real_attr[i]
        r1 = n_it[0] % sz["lazy_reg"] == 0
        st[0].step(ra * st[0].scale + st[0].shift, None, r1, a.mult_term)
        st[1].step(torch.cat([real_feat[i], real_flag[i]], 1) * st[1].scale + st[1].shift, ra, r1, a.mult_term)
        n_it[0] += 1

    if a.count:
        n_par = sum(p.numel() for s in st for net in (s.G, s.D) for p in net.parameters())
        print(f"parameters: {n_par}")
        print(f"matmuls, R1 iteration: {count_matmuls(it)}")
        print(f"matmuls, plain iteration: {count_matmuls(it)}")
        return
    for _ in range(2):
        it()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        it()
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__} ddgan_{a.model} cpu threads={a.threads}: {a.iters / dt:.3f} it/s, "
          f"{1000 * dt / a.iters:.1f} ms/it")


if __name__ == "__main__":
    main()
