#!/usr/bin/python3
"""PyTorch peer of `vkflow bench gan`: the same DoppelGANger (models/doppelganger.cfg)
on the same UGR16-like shapes, eager mode, timed the same way (median-free
mean over N iterations after 2 warm-up iterations).

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 /usr/bin/python3 tools/bench/doppelganger_torch.py [--iters N] [--threads T] [--device cpu|cuda]

Shapes: batch 100, attr 181 (64 2-way softmaxes, 30 tanh, 1 sigmoid, 11 2-way
softmaxes), feat 9 (4 sigmoid, a 5-way softmax), max_len 34 -> 4 LSTM steps of
10 records (40 records), LSTM 100, MLPs 5x512, 5 D steps per G step, WGAN-GP
lambda 10 on D and D_attr with alpha ~ U(0,1) per example. D steps use fakes
generated without a graph (detached), as vkflow's d_step does."""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn

B, A, F, ML, S = 100, 181, 9, 34, 10
DEV = "cpu"
STEPS = (ML + S - 1) // S
T = STEPS * S
REC = F + 2


def attr_heads(x):
    ip = torch.softmax(x[:, :128].reshape(-1, 64, 2), -1).reshape(-1, 128)
    w2v = torch.tanh(x[:, 128:158])
    st = torch.sigmoid(x[:, 158:159])
    tags = torch.softmax(x[:, 159:181].reshape(-1, 11, 2), -1).reshape(-1, 22)
    return torch.cat([ip, w2v, st, tags], 1)


def mlp(i, n, w, out, bn=False):
    layers = []
    for _ in range(n):
        layers += [nn.Linear(i, w), nn.ReLU()] + ([nn.BatchNorm1d(w)] if bn else [])
        i = w
    layers.append(nn.Linear(i, out))
    return nn.Sequential(*layers)


class G(nn.Module):
    def __init__(self):
        super().__init__()
        self.attr = mlp(5, 5, 512, A, bn=True)
        self.lstm = nn.LSTM(A + 5, 100, batch_first=True)
        self.head = nn.Linear(100, S * REC)

    def forward(self):
        a = attr_heads(self.attr(torch.randn(B, 5, device=DEV)))
        z = torch.randn(B, STEPS, 5, device=DEV)
        h, _ = self.lstm(torch.cat([a.unsqueeze(1).expand(B, STEPS, A), z], 2))
        r = self.head(h).reshape(B * T, REC)
        f = torch.cat([torch.sigmoid(r[:, :4]), torch.softmax(r[:, 4:9], 1)], 1)
        p = torch.softmax(r[:, 9:11], 1)
        ended = (p[:, 1] > 0.5).float().reshape(B, T)
        mask = (torch.cumsum(ended, 1) - ended < 0.5).float().detach().reshape(B * T, 1)
        return a, (f * mask).reshape(B, T * F), (p * mask).reshape(B, T * 2)


def gp(d, x):
    x = x.detach().requires_grad_(True)
    g, = torch.autograd.grad(d(x).sum(), x, create_graph=True)
    return ((g.norm(2, dim=1) - 1) ** 2).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    global DEV
    DEV = a.device
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    g, d, da = G().to(DEV), mlp(T * REC + A, 5, 512, 1).to(DEV), mlp(A, 5, 512, 1).to(DEV)
    og = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(list(d.parameters()) + list(da.parameters()), 1e-4, betas=(0.5, 0.999))
    real_attr, real_feat, real_flag = (torch.rand(1000, A, device=DEV), torch.rand(1000, T * F, device=DEV),
                                      torch.rand(1000, T * 2, device=DEV))

    def it():
        for _ in range(5):
            i = torch.randint(0, 1000, (B,), device=DEV)
            ra, rf, rg = real_attr[i], real_feat[i], real_flag[i]
            with torch.no_grad():
                fa, ff, fg = g()
            real, fake = torch.cat([rf, rg, ra], 1), torch.cat([ff, fg, fa], 1)
            al = torch.rand(B, 1, device=DEV)
            al2 = torch.rand(B, 1, device=DEV)
            loss = (d(fake).mean() - d(real).mean() + da(fa).mean() - da(ra).mean()
                    + 10 * gp(d, al * real + (1 - al) * fake) + 10 * gp(da, al2 * ra + (1 - al2) * fa))
            od.zero_grad()
            loss.backward()
            od.step()
        fa, ff, fg = g()
        gl = -d(torch.cat([ff, fg, fa], 1)).mean() - da(fa).mean()
        og.zero_grad()
        gl.backward()
        og.step()

    def sync():
        if DEV.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(2):
        it()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        it()
    sync()
    dt = time.perf_counter() - t0
    where = f"cpu threads={a.threads}" if DEV == "cpu" else DEV
    print(f"torch {torch.__version__} {where}: {a.iters / dt:.3f} it/s, {1000 * dt / a.iters:.1f} ms/it")


if __name__ == "__main__":
    main()
