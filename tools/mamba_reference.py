#!/usr/bin/env python3
"""PyTorch reference of mamba_ssm's MambaLMHeadModel (Mamba-1, mamba_simple), without mamba_ssm.

The selective scan is the plain sequential recurrence (as mamba-minimal), so this runs anywhere
torch does. Used by coil's interop test (tests/test_nn_interop.cpp): it builds a small model
with random parameters, writes its state dict under mamba_ssm's own names and shapes to
OUT/model.safetensors, and the input ids with the logits (computed in float64) to
OUT/io.safetensors. coil loads the checkpoint by name and must reproduce the logits.

  python3 tools/mamba_reference.py --out DIR [--d-model 32 --n-layer 2 --vocab 37 ...]
"""
import argparse
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Mamba(nn.Module):
    """mamba_simple.Mamba's parameters and forward (the slow path, with a sequential scan)."""

    def __init__(self, d_model, d_state=16, d_conv=4, expand=2):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state = d_state
        self.dt_rank = math.ceil(d_model / 16)
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, hidden):
        _, L, _ = hidden.shape
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        x = self.conv1d(x.transpose(1, 2))[..., :L].transpose(1, 2)
        x = F.silu(x)
        dt, B, C = torch.split(self.x_proj(x), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # dt_proj.bias is mamba_ssm's delta_bias
        A = -torch.exp(self.A_log)
        h = x.new_zeros(x.shape[0], self.d_inner, self.d_state)
        ys = []
        for t in range(L):
            dA = torch.exp(delta[:, t, :, None] * A)
            h = dA * h + delta[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
            ys.append((h * C[:, t, None, :]).sum(-1) + self.D * x[:, t])
        y = torch.stack(ys, dim=1) * F.silu(z)
        return self.out_proj(y)


class Block(nn.Module):
    def __init__(self, d_model, **kw):
        super().__init__()
        self.mixer = Mamba(d_model, **kw)
        self.norm = RMSNorm(d_model)

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class Backbone(nn.Module):
    def __init__(self, d_model, n_layer, vocab, **kw):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model)
        self.layers = nn.ModuleList([Block(d_model, **kw) for _ in range(n_layer)])
        self.norm_f = RMSNorm(d_model)

    def forward(self, ids):
        h = self.embedding(ids)
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)


class MambaLMHeadModel(nn.Module):
    def __init__(self, d_model, n_layer, vocab, **kw):
        super().__init__()
        self.backbone = Backbone(d_model, n_layer, vocab, **kw)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)
        self.lm_head.weight = self.backbone.embedding.weight  # tied, as mamba_ssm

    def forward(self, ids):
        return self.lm_head(self.backbone(ids))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=37)
    ap.add_argument("--d-state", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=29)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = MambaLMHeadModel(args.d_model, args.n_layer, args.vocab, d_state=args.d_state)
    # Move every parameter away from its structured init (ones, log(1..N)) so that a wrong
    # mapping of any one of them changes the logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.add_(0.3 * torch.rand_like(p))
            elif name.endswith("embedding.weight"):
                p.normal_(0.0, 0.5)
            else:
                p.add_(0.1 * torch.randn_like(p))
    os.makedirs(args.out, exist_ok=True)
    # safetensors refuses shared storage: the tied head is saved as its own (equal) tensor, as
    # a checkpoint converted from a torch .bin would be.
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(args.out, "model.safetensors"))

    ids = torch.randint(0, args.vocab, (args.batch, args.length))
    with torch.no_grad():
        logits = model.double()(ids)
    save_file({"input_ids": ids.to(torch.int64), "logits": logits.float().contiguous()},
              os.path.join(args.out, "io.safetensors"))
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters())} parameters, "
          f"logits {tuple(logits.shape)}, |logits| max {logits.abs().max().item():.4f}")


if __name__ == "__main__":
    main()
