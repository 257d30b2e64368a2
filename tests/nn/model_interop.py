#!/usr/bin/env python3
"""A trustml model's weights in Python, and Python's weights in trustml.

    model_interop.py <model_interop_tool> <work dir>

1. The tool saves the reference small CNN (nn::zoo::SmallCnn) as safetensors, a fixed input and
   its logits as NPY. This script reads the weights with safetensors.numpy, checks the names and
   shapes that PyTorch's state_dict of the same network has, runs the network's forward pass
   written here in numpy (PyTorch's conv, max-pool and linear conventions) and compares the logits.
2. This script draws new weights with numpy, saves them with safetensors.numpy.save_file, and the
   tool loads them into a SmallCnn and writes its logits, which must match numpy's forward pass.
"""
import pathlib
import subprocess
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from safetensors.numpy import load_file, save_file

EXPECTED = {
    "features.0.weight": (16, 1, 3, 3),
    "features.0.bias": (16,),
    "features.3.weight": (32, 16, 3, 3),
    "features.3.bias": (32,),
    "classifier.weight": (10, 1568),
    "classifier.bias": (10,),
}


def fail(message):
    sys.exit(f"model_interop.py: {message}")


def conv3x3_pad1(x, w, b):
    """torch.nn.functional.conv2d(x, w, b, padding=1): cross-correlation, weight [out, in, kh, kw]."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = sliding_window_view(padded, (3, 3), axis=(2, 3))  # [N, C, H, W, 3, 3]
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True) + b[None, :, None, None]


def max_pool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def forward(weights, x):
    h = max_pool2(np.maximum(conv3x3_pad1(x, weights["features.0.weight"], weights["features.0.bias"]), 0))
    h = max_pool2(np.maximum(conv3x3_pad1(h, weights["features.3.weight"], weights["features.3.bias"]), 0))
    return h.reshape(h.shape[0], -1) @ weights["classifier.weight"].T + weights["classifier.bias"]


def check_close(got, want, what):
    err = np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30)
    if not err <= 1e-4:
        fail(f"{what}: max relative difference {err:.3g} (got {got.ravel()[:4]}, want {want.ravel()[:4]})")
    print(f"{what}: max relative difference {err:.2g}")


def main():
    tool, work = sys.argv[1], pathlib.Path(sys.argv[2])
    subprocess.run([tool, "save", str(work)], check=True)
    weights = load_file(str(work / "small_cnn.safetensors"))
    names = {name: tuple(array.shape) for name, array in weights.items()}
    if names != EXPECTED:
        fail(f"names and shapes {names}, expected {EXPECTED}")
    if any(array.dtype != np.float32 for array in weights.values()):
        fail("weights are not all float32")
    x = np.load(work / "input.npy").astype(np.float64)
    check_close(np.load(work / "logits.npy"), forward({k: v.astype(np.float64) for k, v in weights.items()}, x),
                "trustml logits vs numpy forward of trustml's weights")

    rng = np.random.default_rng(17)
    mine = {name: (rng.standard_normal(shape) * 0.1).astype(np.float32) for name, shape in EXPECTED.items()}
    save_file(mine, str(work / "py_small_cnn.safetensors"))
    subprocess.run([tool, "load", str(work)], check=True)
    check_close(np.load(work / "cpp_logits.npy"), forward({k: v.astype(np.float64) for k, v in mine.items()}, x),
                "trustml logits of Python's weights vs numpy forward")


if __name__ == "__main__":
    main()
