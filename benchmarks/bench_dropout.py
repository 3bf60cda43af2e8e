"""Time one training step (forward + backward) of GDGP's DynUNet with torch's dropout and with FastDropout.

Usage: python benchmarks/bench_dropout.py [--size 64] [--batch 8] [--repeats 20]
Prints milliseconds per step (median of the repeats) on one CPU thread, and the mask cost
of one dropout call on the largest activation.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch
from torch import nn

from gdgp.methods.fast_dropout import FastDropout
from gdgp.methods.gdgp import GDGP, dynunet_features


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="crop size (px): demo 64, paper 128")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    hp = dataclasses.asdict(GDGP.Settings())
    x = torch.randn(a.batch, 3, a.size, a.size)
    net = dynunet_features(3, hp["feature_channels"], hp["filters"], hp["dropout"]).train()

    def step() -> None:
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    fast = _median_ms(step, a.repeats)
    for _name, child in list(net.named_modules()):  # back to torch's dropout, same weights
        for attr, sub in list(child.named_children()):
            if isinstance(sub, FastDropout):
                setattr(child, attr, nn.Dropout(sub.p))
    torch_ms = _median_ms(step, a.repeats)
    act = torch.randn(a.batch, hp["filters"][0], a.size, a.size)
    layer = FastDropout(hp["dropout"]).train()
    print(f"DynUNet {hp['filters']}, batch {a.batch}, {a.size} px, dropout {hp['dropout']}, 1 thread:")
    print(f"  step with torch dropout {torch_ms:7.1f} ms   with FastDropout {fast:7.1f} ms   ({torch_ms / fast:.2f}x)")
    print(
        f"  one dropout on {tuple(act.shape)}: torch "
        f"{_median_ms(lambda: nn.functional.dropout(act, hp['dropout'], True), a.repeats):.2f} ms, "
        f"FastDropout {_median_ms(lambda: layer(act), a.repeats):.2f} ms"
    )


if __name__ == "__main__":
    main()
