"""Stage 3: the robot user interacts with a trained method on every test slice; medpy scores each round.

Writes ``clicks.csv`` (one row per test slice x round: the click added, the click count,
Dice, ASSD in pixels and mm, tp/fp/fn, the empty-prediction flag) and ``overlays.npz``
(a few slices' images, ground truths, predictions at every round and clicks, for the
qualitative figure; keeping every round lets the report choose its round without re-running
the evaluation). Slices are picked by their order in the manifest, so every method of
a dataset shows the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gdgp.atomic import atomic_path
from gdgp.extract import SliceSet
from gdgp.interaction.loop import RoundResult, run_interactions
from gdgp.interaction.robot import Robot
from gdgp.methods import Method
from gdgp.metrics import score


@dataclass(frozen=True)
class EvalConfig:
    """Robot-user settings (from the workflow config's ``evaluate``)."""

    n_rounds: int = 20
    noise_px: float = 0.0
    seed: int = 0
    threshold: float = 0.5
    batch_size: int = 32
    overlay_slices: int = 4

    def __post_init__(self) -> None:
        if self.n_rounds < 0:
            raise ValueError(f"evaluate.n_rounds must be >= 0, got {self.n_rounds}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"evaluate.threshold must be in (0, 1), got {self.threshold}")


def _records(dataset: str, method: str, row: pd.Series, gt: np.ndarray, rounds: list[RoundResult]) -> list[dict]:
    spacing = (float(row["spacing_y"]), float(row["spacing_x"]))
    out = []
    for res in rounds:
        click = res.click
        out.append({
            "dataset": dataset, "method": method, "slice_id": int(row["slice_id"]), "case": row["case"],
            "slice_z": int(row["slice_z"]), "round": res.round, "n_clicks": res.n_clicks,
            "click_y": np.nan if click is None else click.y, "click_x": np.nan if click is None else click.x,
            "click_positive": np.nan if click is None else float(click.positive),
            **score(res.pred, gt, spacing),
        })
    return out


def evaluate_method(method: Method, test_set: SliceSet, dataset: str, cfg: EvalConfig
                    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Interact with and score every test slice.

    Returns:
        (records, overlays): the clicks.csv table and the overlay arrays.
    """
    records: list[dict] = []
    overlay_k = min(cfg.overlay_slices, len(test_set.images))
    rounds = tuple(range(cfg.n_rounds + 1))  # all rounds: the report picks its table round
    ov_pred = np.zeros((overlay_k, len(rounds), *test_set.images.shape[1:]), dtype=np.uint8)
    ov_clicks: list[tuple[int, int, int, bool, int]] = []
    n = len(test_set.images)
    for start in tqdm(range(0, n, cfg.batch_size), desc=f"evaluate {method.name}", unit="batch"):
        idx = range(start, min(n, start + cfg.batch_size))
        robots = [
            Robot(test_set.labels[i], noise_px=cfg.noise_px,
                  rng=np.random.default_rng([cfg.seed, int(test_set.manifest.at[i, "slice_id"])]))
            for i in idx
        ]
        results = run_interactions(test_set.images[idx.start : idx.stop], method, robots, cfg.n_rounds, cfg.threshold)
        for i, robot, res in zip(idx, robots, results, strict=True):
            records += _records(dataset, method.name, test_set.manifest.iloc[i], test_set.labels[i], res)
            if i < overlay_k:
                for j, r in enumerate(rounds):
                    ov_pred[i, j] = res[r].pred
                n_first = res[0].n_clicks
                for c in robot.clicks:
                    ov_clicks.append((i, c.y, c.x, c.positive, max(0, c.index - n_first + 1)))
    clicks = np.array(ov_clicks, dtype=np.int64).reshape(-1, 5)
    overlays = {
        "image": test_set.images[:overlay_k].astype(np.float32),
        "gt": test_set.labels[:overlay_k].astype(np.uint8),
        "pred": ov_pred,
        "rounds": np.array(rounds, dtype=np.int64),
        "slice_id": test_set.manifest["slice_id"].to_numpy()[:overlay_k].astype(np.int64),
        "click_slice": clicks[:, 0], "click_y": clicks[:, 1], "click_x": clicks[:, 2],
        "click_positive": clicks[:, 3].astype(bool), "click_round": clicks[:, 4],
    }
    return pd.DataFrame.from_records(records), overlays


def save_evaluation(records: pd.DataFrame, overlays: dict[str, np.ndarray], clicks_csv: str | Path,
                    overlays_npz: str | Path) -> None:
    """Write clicks.csv and overlays.npz atomically."""
    with atomic_path(clicks_csv) as tmp:
        records.to_csv(tmp, index=False)
    with atomic_path(overlays_npz) as tmp:
        np.savez_compressed(tmp, **overlays)
