"""PyTorch on the GPU, the peer of bench/gpu_vs_cpu.cu: the same workloads, sizes and timing rule.

    python3 bench/torch_gpu_peer.py [--batch 128] [--n 256] [--repeats 5]

Run by `gpu_vs_cpu --torch-peer bench/torch_gpu_peer.py`, which reads the last line (JSON, times
in ms) and prints the ratio trustml / PyTorch for each workload:
  train   one SGD step (momentum 0.9) of the reference SmallCnn on `batch` 28x28 images;
  pgd     PGD-10, L-inf eps 8/255, step 2.5 eps / 10, random start, clip to [0, 1], no early stop;
  dncnn   one forward of DnCNN (2 channels, depth 5, 32 features, eval-mode BatchNorm) on one
          n x n image, no grad.
Each time is the best of `repeats` after one warm-up, with torch.cuda.synchronize() before the clock
stops; cuDNN's autotuner is on (torch.backends.cudnn.benchmark), as a PyTorch user would run it.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


def best_ms(f, repeats):
    f()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def small_cnn(width=16):
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 7 * 7, 10))


def dncnn(channels=2, depth=5, features=32):
    layers = [nn.Conv2d(channels, features, 3, padding=1), nn.ReLU()]
    for _ in range(depth - 2):
        layers += [nn.Conv2d(features, features, 3, padding=1, bias=False), nn.BatchNorm2d(features), nn.ReLU()]
    layers.append(nn.Conv2d(features, channels, 3, padding=1))
    body = nn.Sequential(*layers)

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return x - self.body(x)

    return Residual()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    torch.manual_seed(0)
    x = torch.rand(a.batch, 1, 28, 28, device=dev)
    y = (torch.arange(a.batch, device=dev) * 7) % 10

    net = small_cnn().to(dev)
    sgd = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

    def train():
        sgd.zero_grad()
        F.cross_entropy(net(x), y).backward()
        sgd.step()

    eps, steps = 8 / 255, 10
    alpha = 2.5 * eps / steps
    net.eval()

    def pgd():
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(net(adv), y), adv)
            adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
        return adv

    den = dncnn().to(dev).eval()
    image = torch.rand(1, 2, a.n, a.n, device=dev)

    def denoise():
        with torch.no_grad():
            den(image)

    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0),
           "train_ms": best_ms(train, a.repeats), "pgd_ms": best_ms(pgd, a.repeats),
           "dncnn_ms": best_ms(denoise, a.repeats)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
