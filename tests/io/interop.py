#!/usr/bin/env python3
"""Interop test of trustml's safetensors and NPY files with the Python libraries themselves.

    interop.py <io_interop_tool> <work dir>

1. The C++ tool writes cpp.safetensors and cpp_*.npy; this script reads them with
   safetensors.numpy and numpy and checks every name, dtype, shape and value exactly, the
   metadata, the header's layout, and that each NPY file is byte for byte what numpy.save writes.
2. This script writes py.safetensors (safetensors.numpy.save_file) and py_*.npy (numpy.save);
   the tool's check mode loads and checks them (see io_interop_tool.cpp for the same contents).

Exits non-zero with a message on the first mismatch.
"""
import io
import json
import pathlib
import struct
import subprocess
import sys

import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def fail(message):
    sys.exit(f"interop.py: {message}")


def ramp(n, step, start, dtype):
    return np.arange(n, dtype=dtype) * dtype(step) + dtype(start)


def cpp_arrays():
    """What io_interop_tool write puts in cpp.safetensors, in its order."""
    return {
        "features.0.weight": ramp(144, 0.5, -3.0, np.float32).reshape(16, 1, 3, 3),
        "features.0.bias": ramp(16, 0.25, 0.0, np.float32),
        "head.scale": (np.arange(6, dtype=np.float64) / 3.0).reshape(2, 3),
        "labels": np.array([-2, 0, 1, 1 << 40, -(1 << 50)], dtype=np.int64),
        "mask": np.array([True, False, True]),
        "counts": np.array([[-1, 0], [1, 2147483647]], dtype=np.int32),
        "scalar": np.array(2.5, dtype=np.float64),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def py_arrays():
    """What io_interop_tool check expects in py.safetensors."""
    return {
        "py.weight": ramp(12, 0.5, -3.0, np.float32).reshape(4, 3),
        "py.bias": ramp(3, 0.1, 0.0, np.float64),
        "py.index": np.array([[-1, 1 << 40], [3, -4]], dtype=np.int64),
        "py.half": np.array([1.0, -2.0, 0.5], dtype=np.float16),
        "py.mask": np.array([True, False, True]),
        "py.pixels": np.array([0, 255], dtype=np.uint8),
        "py.counts": np.array([-7, 7], dtype=np.int32),
        "py.scalar": np.array(2.5, dtype=np.float64),
        "py.empty": np.zeros((0, 3), dtype=np.float32),
    }


def check_same(label, got, want):
    if got.dtype != want.dtype or got.shape != want.shape or got.tobytes() != want.tobytes():
        fail(f"{label}: got {got.dtype} {got.shape} {got.ravel()[:8]}, "
             f"expected {want.dtype} {want.shape} {want.ravel()[:8]}")


def check_cpp_files(work):
    path = work / "cpp.safetensors"
    want = cpp_arrays()
    got = load_file(str(path))
    if sorted(got) != sorted(want):
        fail(f"{path}: names {sorted(got)}, expected {sorted(want)}")
    for name, array in want.items():
        check_same(f"{path}: {name}", got[name], array)
    with safe_open(str(path), framework="np") as f:
        if f.metadata() != {"format": "pt", "producer": "trustml"}:
            fail(f"{path}: metadata {f.metadata()}")

    raw = path.read_bytes()
    (header_size,) = struct.unpack("<Q", raw[:8])
    if header_size % 8 != 0:
        fail(f"{path}: header length {header_size} is not a multiple of 8")
    header = json.loads(raw[8:8 + header_size])
    if list(header) != ["__metadata__", *want]:
        fail(f"{path}: header keys in order {list(header)}")
    end = 0
    for name in want:  # the data in the order saved, with no gaps
        begin, stop = header[name]["data_offsets"]
        if begin != end:
            fail(f"{path}: {name} starts at {begin}, expected {end}")
        end = stop
    if 8 + header_size + end != len(raw):
        fail(f"{path}: the tensors do not end where the file does")

    for name in ["features.0.weight", "labels", "mask", "counts", "scalar"]:
        npy = work / f"cpp_{name}.npy"
        check_same(str(npy), np.load(npy), want[name])
        expected = io.BytesIO()
        np.save(expected, want[name])
        if npy.read_bytes() != expected.getvalue():
            fail(f"{npy}: bytes differ from numpy {np.__version__}'s np.save:\n"
                 f"  trustml: {npy.read_bytes()[:128]!r}\n  numpy:   {expected.getvalue()[:128]!r}")


def write_py_files(work):
    arrays = py_arrays()
    save_file(arrays, str(work / "py.safetensors"), metadata={"source": "python"})
    for name in ["weight", "index", "scalar", "mask", "half"]:
        np.save(work / f"py_{name}.npy", arrays[f"py.{name}"])
    np.save(work / "py_fortran.npy", np.asfortranarray(arrays["py.weight"]))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: interop.py <io_interop_tool> <work dir>")
    tool, work = sys.argv[1], pathlib.Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    for stale in work.iterdir():
        stale.unlink()
    subprocess.run([tool, "write", str(work)], check=True)
    check_cpp_files(work)
    write_py_files(work)
    result = subprocess.run([tool, "check", str(work)])
    if result.returncode != 0:
        fail(f"io_interop_tool check rejected the files Python wrote (exit {result.returncode})")
    print(f"interop.py: safetensors {safetensors.__version__} and numpy {np.__version__} "
          "read trustml's files and trustml reads theirs")


if __name__ == "__main__":
    main()
