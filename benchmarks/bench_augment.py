"""Benchmark: training augmentation of one batch, old per-sample MONAI Compose vs new batched affine.

Old (the implementation before, kept here): MONAI ``RandRotated`` + ``RandZoomd`` +
``RandFlipd`` in a ``Compose``, applied sample by sample (two resamplings per sample).
New (``gdgp.training.augment``): per-sample parameters from one numpy Generator, rotation +
zoom as one affine matrix per sample, the whole batch resampled in one call of MONAI's
``AffineTransform`` per key.  Both at the trainer's settings (rotation +-15 deg and zoom
1 +- 0.1 each with probability ``prob``, flip 0.5), on a batch of 8 slices of 64x64 and
256x256, CPU.  Timed in alternating blocks (``_timing.alternating_blocks_ms``); prints the
median milliseconds per batch of each, its minimum and the speed-up (ratio of medians).
``prob = 1`` is the worst case of the new one (every sample resampled).

Usage: ``python benchmarks/bench_augment.py [--repeats 40] [--sizes 64 256] [--batch 8] [--threads 1]
[--probs 0.5 1.0]``
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from _timing import alternating_blocks_ms, block_parser, median_of_blocks, set_threads
from monai.transforms import Compose, RandFlipd, RandRotated, RandZoomd

from gdgp.training.augment import augment_batch, build_augmentation

ROTATE_DEG, SCALE, FLIP_PROB = 15.0, 0.1, 0.5  # TrainConfig's defaults
BLOCKS = 4


def old_augmentation(rotate_deg: float, scale: float, flip_prob: float, prob: float = 0.5) -> Compose:
    """The previous ``build_augmentation``: MONAI dictionary transforms, one sample at a time."""
    keys = ["image", "label"]
    return Compose(
        [
            RandRotated(
                keys, range_x=math.radians(rotate_deg), prob=prob, mode=("bilinear", "nearest"), padding_mode="zeros"
            ),
            RandZoomd(
                keys,
                prob=prob,
                min_zoom=1.0 - scale,
                max_zoom=1.0 + scale,
                mode=("bilinear", "nearest"),
                padding_mode="constant",
                keep_size=True,
            ),
            RandFlipd(keys, prob=flip_prob, spatial_axis=1),
        ]
    )


def old_augment_batch(aug: Compose, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The previous ``augment_batch``: the Compose on each (H, W) pair, numpy copies out."""
    out_img, out_lab = [], []
    for img, lab in zip(images, labels, strict=True):
        d = aug({"image": img[None], "label": lab[None].astype(np.float32)})
        out_img.append(np.asarray(d["image"], dtype=np.float32)[0])
        out_lab.append((np.asarray(d["label"])[0] > 0.5).astype(np.uint8))
    return np.stack(out_img), np.stack(out_lab)


def make_batch(batch: int, side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random intensities in [0, 1] and a centred disc label, like the training slices."""
    rng = np.random.default_rng(seed)
    images = rng.random((batch, side, side)).astype(np.float32)
    yy, xx = np.mgrid[:side, :side]
    disc = np.hypot(yy - side / 2, xx - side / 2) <= side / 4
    return images, np.repeat(disc[None], batch, axis=0).astype(np.uint8)


def bench_size(side: int, batch: int, repeats: int, probs: list[float]) -> None:
    images, labels = make_batch(batch, side)
    contenders: dict[str, Callable[[], object]] = {}
    for prob in probs:
        old = old_augmentation(ROTATE_DEG, SCALE, FLIP_PROB, prob)
        old.set_random_state(seed=0)
        new = build_augmentation(ROTATE_DEG, SCALE, FLIP_PROB, prob)
        new.set_random_state(seed=0)
        contenders[f"old prob={prob}"] = lambda a=old: old_augment_batch(a, images, labels)
        contenders[f"new prob={prob}"] = lambda a=new: augment_batch(a, images, labels)
    per_block = max(1, repeats // BLOCKS)
    times = alternating_blocks_ms(contenders, blocks=BLOCKS, per_block=per_block)
    print(f"batch {batch} x {side}x{side}, {BLOCKS} alternating blocks of {per_block} calls")
    for prob in probs:
        old_t, new_t = times[f"old prob={prob}"], times[f"new prob={prob}"]
        old_med, new_med = median_of_blocks(old_t), median_of_blocks(new_t)
        old_min, new_min = min(map(min, old_t)), min(map(min, new_t))
        print(f"  prob={prob:<4} old per-sample MONAI Compose   {old_med:9.2f} ms/batch (min {old_min:8.2f})")
        print(
            f"  prob={prob:<4} new batched AffineTransform    {new_med:9.2f} ms/batch (min {new_min:8.2f})"
            f"   speed-up x{old_med / new_med:.1f}"
        )


def main() -> None:
    ap = block_parser(__doc__.splitlines()[0], default_threads=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument(
        "--probs",
        type=float,
        nargs="+",
        default=[0.5, 1.0],
        help="probability of rotation and of zoom (the trainer's: 0.5)",
    )
    args = ap.parse_args()
    set_threads(args.threads)
    for side in args.sizes:
        bench_size(side, args.batch, args.repeats, args.probs)


if __name__ == "__main__":
    main()
