"""Stage 3: the robot user interacts with a trained method on every slice of a split; medpy scores each round.

The workflow evaluates the test slices (the tables) and, where the dataset has them, the
validation slices (for choosing settings); the caller picks the split
(:meth:`gdgp.data.extract.SliceSet.subset`). An empty split yields header-only tables and an
overlays file holding zero slices.

Writes ``clicks.csv`` (one row per test slice x round: the click added, the click count,
Dice, NSD at ``nsd_tolerance_mm``, ASSD in pixels and mm, tp/fp/fn, the empty-prediction
flag), ``first_interaction.csv``
(one row per click of each slice's first interaction: GDGP's near-centre and outer-edge
points, DEXTR's extreme points, ...; ``clicks.csv`` holds only the corrective clicks, so
this file is what lets anyone audit the first interaction) and ``overlays.npz``
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
from gdgp.clicks.protocols import get_protocol
from gdgp.clicks.robot import Robot
from gdgp.data.slice_set import SliceSet
from gdgp.evaluation.columns import CLICKS_COLUMNS, FIRST_INTERACTION_COLUMNS
from gdgp.evaluation.loop import RoundResult, run_interactions
from gdgp.evaluation.metrics import score
from gdgp.methods import Method
from gdgp.schema_defaults import schema_default


@dataclass(frozen=True)
class EvalConfig:
    """Robot-user settings: the workflow config's ``evaluate``, each field its key's name, and
    ``batch_size`` (slices per forward pass, not a setting). Defaults are the config schema's
    (:mod:`gdgp.schema_defaults`)."""

    rounds: int = schema_default("evaluate.rounds")
    noise_px: float = schema_default("evaluate.noise_px")
    seed: int = schema_default("evaluate.seed")
    threshold: float = schema_default("evaluate.threshold")
    batch_size: int = 32
    overlay_slices: int = schema_default("evaluate.overlay_slices")
    protocol: str = schema_default("evaluate.protocol")
    nsd_tolerance_mm: float = schema_default("evaluate.nsd_tolerance_mm")

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"evaluate.rounds must be >= 0, got {self.rounds}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"evaluate.threshold must be in (0, 1), got {self.threshold}")
        get_protocol(self.protocol)  # unknown names raise listing the known ones


def _records(
    dataset: str, method: str, row: pd.Series, gt: np.ndarray, rounds: list[RoundResult], nsd_tolerance_mm: float
) -> list[dict]:
    spacing = (float(row["spacing_y"]), float(row["spacing_x"]))
    out = []
    for res in rounds:
        click = res.click
        out.append(
            {
                "dataset": dataset,
                "method": method,
                "slice_id": int(row["slice_id"]),
                "case": row["case"],
                "slice_z": int(row["slice_z"]),
                "round": res.round,
                "n_clicks": res.n_clicks,
                "click_y": np.nan if click is None else click.y,
                "click_x": np.nan if click is None else click.x,
                "click_positive": np.nan if click is None else float(click.positive),
                **score(res.pred, gt, spacing, nsd_tolerance_mm),
            }
        )
    return out


@dataclass(frozen=True)
class EvalRun:
    """One evaluation of a loaded model: which slices, which click protocol, how many corrective
    rounds, which three files."""

    split: str
    protocol: str
    rounds: int
    clicks: str
    first_interaction: str
    overlays: str


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation run writes: the per-round table, the first clicks, the overlays."""

    records: pd.DataFrame  # clicks.csv
    first_interaction: pd.DataFrame  # first_interaction.csv (FIRST_INTERACTION_COLUMNS)
    overlays: dict[str, np.ndarray]  # overlays.npz


def _first_clicks(dataset: str, method: str, row: pd.Series, robot: Robot, n_first: int) -> list[dict]:
    return [
        {
            "dataset": dataset,
            "method": method,
            "slice_id": int(row["slice_id"]),
            "case": row["case"],
            "index": c.index,
            "y": c.y,
            "x": c.x,
            "positive": c.positive,
        }
        for c in robot.clicks[:n_first]
    ]


def evaluate_method(method: Method, test_set: SliceSet, dataset: str, cfg: EvalConfig) -> Evaluation:
    """Interact with and score every slice of ``test_set`` (any split; none at all gives empty tables)."""
    records: list[dict] = []
    first: list[dict] = []
    overlay_k = min(cfg.overlay_slices, len(test_set.images))
    rounds = tuple(range(cfg.rounds + 1))  # all rounds: the report picks its table round
    ov_pred = np.zeros((overlay_k, len(rounds), *test_set.images.shape[1:]), dtype=np.uint8)
    ov_clicks: list[tuple[int, int, int, bool, int]] = []
    n = len(test_set.images)
    slice_ids = test_set.manifest["slice_id"].to_numpy(dtype=np.int64)
    for start in tqdm(range(0, n, cfg.batch_size), desc=f"evaluate {method.name}", unit="batch"):
        idx = range(start, min(n, start + cfg.batch_size))
        robots = [
            Robot(
                test_set.labels[i],
                noise_px=cfg.noise_px,
                protocol=cfg.protocol,
                rng=np.random.default_rng([cfg.seed, int(slice_ids[i])]),
            )
            for i in idx
        ]
        results = run_interactions(test_set.images[idx.start : idx.stop], method, robots, cfg.rounds, cfg.threshold)
        for i, robot, res in zip(idx, robots, results, strict=True):
            row = test_set.manifest.iloc[i]
            records += _records(dataset, method.name, row, test_set.labels[i], res, cfg.nsd_tolerance_mm)
            first += _first_clicks(dataset, method.name, row, robot, res[0].n_clicks)
            if i < overlay_k:
                for j, r in enumerate(rounds):
                    ov_pred[i, j] = res[r].pred
                n_first = res[0].n_clicks
                for c in robot.clicks:
                    ov_clicks.append((i, c.y, c.x, c.positive, max(0, c.index - n_first + 1)))
    clicks = np.array(ov_clicks, dtype=np.int64).reshape(-1, 5)
    overlays: dict[str, np.ndarray] = {
        "image": test_set.images[:overlay_k].astype(np.float32),
        "gt": test_set.labels[:overlay_k].astype(np.uint8),
        "pred": ov_pred,
        "rounds": np.array(rounds, dtype=np.int64),
        "slice_id": slice_ids[:overlay_k],
        "click_slice": clicks[:, 0],
        "click_y": clicks[:, 1],
        "click_x": clicks[:, 2],
        "click_positive": clicks[:, 3].astype(bool),
        "click_round": clicks[:, 4],
    }
    return Evaluation(
        pd.DataFrame.from_records(records, columns=list(CLICKS_COLUMNS)),
        pd.DataFrame.from_records(first, columns=list(FIRST_INTERACTION_COLUMNS)),
        overlays,
    )


def save_evaluation(
    result: Evaluation, clicks_csv: str | Path, first_interaction_csv: str | Path, overlays_npz: str | Path
) -> None:
    """Write clicks.csv, first_interaction.csv and overlays.npz, each atomically."""
    with atomic_path(clicks_csv) as tmp:
        result.records.to_csv(tmp, index=False)
    with atomic_path(first_interaction_csv) as tmp:
        result.first_interaction.to_csv(tmp, index=False)
    with atomic_path(overlays_npz) as tmp:
        np.savez_compressed(tmp, allow_pickle=False, **result.overlays)
