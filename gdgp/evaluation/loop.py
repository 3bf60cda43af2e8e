"""One interaction loop for every method (RITM's ``evaluate_sample``, batched over slices).

Round 0 is the prediction after the method's own first interaction (none for automatic
methods); round r is the prediction after r corrective robot clicks. All rounds always
run so that per-click curves align; NoC is computed later from the records. Slices are
processed in lockstep so that each round is one batched forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gdgp.clicks.robot import Click, Robot
from gdgp.methods.base import Method


@dataclass(frozen=True)
class RoundResult:
    """The state after one round for one slice."""

    round: int
    pred: np.ndarray  # (H, W) bool
    n_clicks: int
    click: Click | None  # the click added in this round (round 0: the single first click, if one)


def run_interactions(
    images: np.ndarray, method: Method, robots: Sequence[Robot], n_rounds: int, threshold: float = 0.5
) -> list[list[RoundResult]]:
    """Run first interaction + ``n_rounds`` corrective rounds on a batch of slices.

    Args:
        images: (B, H, W) float32 images in [0, 1].
        method: a trained method (its network is used in eval mode without gradient).
        robots: one fresh :class:`Robot` per slice (holds the ground truth).
        n_rounds: corrective rounds after the first interaction.
        threshold: probability threshold of the binary prediction.

    Returns:
        Per slice, ``n_rounds + 1`` :class:`RoundResult` (rounds 0..n_rounds).
    """
    first = [method.first_interaction(img, r) for img, r in zip(images, robots, strict=True)]
    prev = np.zeros(images.shape, dtype=np.float32)
    results: list[list[RoundResult]] = [[] for _ in robots]
    new_clicks: list[Click | None] = [c[0] if len(c) == 1 else None for c in first]
    for rnd in range(n_rounds + 1):
        if rnd == 0 or method.interactive:
            probs = method.predict_batch(images, [r.clicks for r in robots], prev)
            prev = (probs > threshold).astype(np.float32)
        for i, robot in enumerate(robots):
            results[i].append(RoundResult(rnd, prev[i] > 0, len(robot.clicks), new_clicks[i]))
        if rnd < n_rounds and method.interactive:
            new_clicks = [robot.next_click(mask) for robot, mask in zip(robots, prev, strict=True)]
    return results
