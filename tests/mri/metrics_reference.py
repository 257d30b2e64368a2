#!/usr/bin/env python3
"""Reference values for tests/mri/test_metrics.cpp, computed by the real peers.

  python3 -m venv /tmp/metrics-venv
  /tmp/metrics-venv/bin/pip install numpy scikit-image pytorch-msssim   # pulls torch
  /tmp/metrics-venv/bin/python tests/mri/metrics_reference.py

Versions used for the numbers in the test: numpy 2.4.6, scikit-image 0.26.0, torch 2.15.0,
pytorch-msssim 1.0.0 (its ssim.py equals VainF/pytorch-msssim HEAD b057b07).

The images are built from sin/cos/exp formulas (Python's math module, i.e. the C library, as
std::sin/cos/exp in the C++ test) so that the test rebuilds them bit for bit without a data file.
"""
import math

import numpy as np
import pytorch_msssim
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

B, H, W = 2, 24, 20


def images():
    """target, recon: complex128 [B, H, W]."""
    target = np.zeros((B, H, W), dtype=np.complex128)
    recon = np.zeros((B, H, W), dtype=np.complex128)
    for b in range(B):
        for i in range(H):
            for j in range(W):
                r2 = (i - 11.5) ** 2 + (j - 9.5) ** 2
                mag = 0.7 * math.exp(-r2 / 60.0) + 0.15 * (1.0 + math.cos(0.7 * i + 0.3 * b) * math.sin(0.5 * j))
                phase = 0.1 * (i + 2 * j) + 0.5 * b
                t = complex(mag * math.cos(phase), mag * math.sin(phase))
                d = complex(0.08 * math.sin(1.3 * i + 0.7 * j + b), 0.06 * math.cos(0.9 * i - 1.1 * j + 2 * b))
                target[b, i, j] = t
                recon[b, i, j] = t + d
    return target, recon


def realimag(x):
    return torch.from_numpy(np.stack([x.real, x.imag], axis=1))  # [B, 2, H, W] float64


def psnr_complex(recon, target):
    """LGM70/SMUG util/metrics.py PSNR(img1=label, img2=result) on [1, 2, H, W] real/imaginary
    tensors, one image at a time (test.py runs batch size 1): mean((img1 - img2)^2) * 2 is the mean
    over pixels of |difference|^2, and the peak is max |label| (util.util.absolute over dim 1)."""
    out = []
    for b in range(recon.shape[0]):
        img1, img2 = realimag(target[b : b + 1]), realimag(recon[b : b + 1])
        mse = torch.mean(torch.pow(img1 - img2, 2)) * 2
        peak = torch.max(torch.sqrt(img1[:, 0] ** 2 + img1[:, 1] ** 2))
        out.append((10 * torch.log10(torch.pow(peak, 2) / mse)).item())
    return out


def ssim_realimag(recon, target, data_range=2.0, float64_window=False):
    """pytorch_msssim.ssim as SMUG's SSIM(data_range=2.0, channel=2) module calls it, per image."""
    kwargs = {}
    if float64_window:  # the same Gaussian, built in float64 instead of pytorch_msssim's float32
        c = torch.arange(11, dtype=torch.float64) - 5
        g = torch.exp(-(c**2) / (2 * 1.5**2))
        kwargs["win"] = (g / g.sum()).reshape(1, 1, 1, 11).repeat(2, 1, 1, 1)
    x, y = realimag(recon), realimag(target)
    return pytorch_msssim.ssim(x, y, data_range=data_range, size_average=False, **kwargs).tolist()


# fastmri/evaluate.py, verbatim in meaning (volume-level, magnitude images).
def nmse(gt, pred):
    return np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2


def psnr_fastmri(gt, pred, maxval=None):
    return peak_signal_noise_ratio(gt, pred, data_range=gt.max() if maxval is None else maxval)


def ssim_fastmri(gt, pred, maxval=None):
    maxval = gt.max() if maxval is None else maxval
    return sum(structural_similarity(gt[s], pred[s], data_range=maxval) for s in range(gt.shape[0])) / gt.shape[0]


def main():
    target, recon = images()
    gt, pred = np.abs(target), np.abs(recon)
    out = {
        "psnr_complex": psnr_complex(recon, target),
        "ssim_realimag (pytorch_msssim as run: float32 window)": ssim_realimag(recon, target),
        "ssim_realimag (float64 window)": ssim_realimag(recon, target, float64_window=True),
        "ssim_realimag data_range 1 (float64 window)": ssim_realimag(recon, target, 1.0, float64_window=True),
        "nmse": nmse(gt, pred),
        "psnr_fastmri": psnr_fastmri(gt, pred),
        "psnr_fastmri maxval 1.5": psnr_fastmri(gt, pred, 1.5),
        "ssim_fastmri": ssim_fastmri(gt, pred),
        "ssim_fastmri maxval 1.5": ssim_fastmri(gt, pred, 1.5),
        "ssim_fastmri per slice": [ssim_fastmri(gt[s : s + 1], pred[s : s + 1], gt.max()) for s in range(B)],
        "gt.max()": gt.max(),
    }
    for k, v in out.items():
        v = [float(x) for x in v] if isinstance(v, list) else float(v)
        print(f"{k}: {v!r}")


if __name__ == "__main__":
    main()
