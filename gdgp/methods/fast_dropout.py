"""Inverted dropout with a cheaper random mask on the CPU.

Why: torch's CPU dropout draws its mask with ``bernoulli_`` (~10 ns per element), which is
~40 % of a training step of GDGP's DynUNet at the demo's size (dropout 0.3 after each of
its 23 convolutions; ``benchmarks/bench_dropout.py``). This module draws 64 random bits per
four elements (``torch.randint`` on int64 words, viewed as 16-bit integers) and keeps an
element when its 16 bits lie above ``p``'s threshold: the same inverted dropout (kept
elements scaled by 1 / (1 - p), identity in eval mode, the mask seeded by torch's
generator), with the keep probability rounded to a multiple of 1 / 65536 (|error| < 8e-6).
On CUDA torch's fused dropout is used unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_INT64 = torch.iinfo(torch.int64)
_LEVELS = 65536  # 16 random bits per element


class FastDropout(nn.Module):
    """Drop-in for :class:`torch.nn.Dropout` (same ``p``, no parameters, same state dict)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        # keep an element when its int16 value >= threshold: P(keep) = 1 - round(p * 65536) / 65536
        self.threshold = -_LEVELS // 2 + round(self.p * _LEVELS)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return nn.functional.dropout(x, self.p, training=True)
        n = x.numel()
        words = torch.randint(_INT64.min, _INT64.max, ((n + 3) // 4,), dtype=torch.int64)
        keep = words.view(torch.int16)[:n].view(x.shape) >= self.threshold
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def replace_dropout(module: nn.Module) -> int:
    """Swap every ``nn.Dropout`` inside ``module`` for a :class:`FastDropout` of the same ``p``.

    Returns the number of layers replaced. State dicts are unchanged (neither has tensors),
    so checkpoints load either way.
    """
    count = 0
    for name, child in module.named_children():
        if type(child) is nn.Dropout:
            setattr(module, name, FastDropout(child.p))
            count += 1
        else:
            count += replace_dropout(child)
    return count
