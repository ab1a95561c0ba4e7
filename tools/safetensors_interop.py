#!/usr/bin/env python3
"""safetensors interop check between coil and the reference implementation (Python safetensors +
torch). Usage: safetensors_interop.py DIR

Reads DIR/coil_written.safetensors (written by tests/test_safetensors.cpp), checks every dtype,
shape, value and the metadata, then writes DIR/torch_written.safetensors with the same patterns
reversed, shape (3, 2), for the C++ test to read back. Exits 1 naming every mismatch."""
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

# Element i of each dtype's tensor, the same formulas as pattern() in tests/test_safetensors.cpp.
PATTERNS = {
    "f32": (torch.float32, lambda i: i * 0.25 - 1.0),
    "f64": (torch.float64, lambda i: i / 3.0),
    "bf16": (torch.bfloat16, lambda i: i * 0.5 - 1.0),
    "i32": (torch.int32, lambda i: i * 1000 - 2500),
    "i64": (torch.int64, lambda i: i * 2**40 - 3),
    "u8": (torch.uint8, lambda i: i * 50),
    "bool": (torch.bool, lambda i: i % 2 == 1),
}


def pattern(name, n, shape, reverse=False):
    dtype, f = PATTERNS[name]
    idx = range(n - 1, -1, -1) if reverse else range(n)
    return torch.tensor([f(i) for i in idx], dtype=dtype).reshape(shape)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    src = os.path.join(d, "coil_written.safetensors")
    errors = []
    got = load_file(src)
    for name in PATTERNS:
        want = pattern(name, 6, (2, 3))
        t = got.get(name)
        if t is None:
            errors.append(f"{name}: missing")
        elif t.dtype != want.dtype or t.shape != want.shape or not torch.equal(t, want):
            errors.append(f"{name}: got {t.dtype} {tuple(t.shape)} {t.flatten().tolist()}, "
                          f"want {want.dtype} {tuple(want.shape)} {want.flatten().tolist()}")
    scalar = got.get("scalar")
    if scalar is None or scalar.shape != () or scalar.item() != -1.0:
        errors.append(f"scalar: got {scalar}, want a 0-dim tensor holding -1.0")
    extra = set(got) - set(PATTERNS) - {"scalar"}
    if extra:
        errors.append(f"unexpected tensors {sorted(extra)}")
    with safe_open(src, framework="pt") as f:
        meta = f.metadata()
    if meta != {"writer": "coil"}:
        errors.append(f"metadata: got {meta}, want {{'writer': 'coil'}}")
    if errors:
        print(f"{src}:\n  " + "\n  ".join(errors), file=sys.stderr)
        sys.exit(1)

    out = {name: pattern(name, 6, (3, 2), reverse=True) for name in PATTERNS}
    save_file(out, os.path.join(d, "torch_written.safetensors"), metadata={"writer": "torch"})
    print(f"safetensors interop: coil's file read by safetensors {__import__('safetensors').__version__}"
          f" / torch {torch.__version__}: {len(got)} tensors ok; wrote torch_written.safetensors")


if __name__ == "__main__":
    main()
