"""Stage 1: valid axial slices of one segmentation target, preprocessed and split.

Reads an MSD task folder or an nnU-Net v2 raw dataset folder (:mod:`gdgp.data.layouts`; the same
data in either layout gives the same output). Writes ``slices.npz`` (``image`` float32
(N, S, S) in [0, 1], ``label`` uint8 (N, S, S)), ``skipped.csv`` (cases left out because
they could not be read or hold none of the target label values, with the reason: only with
``on_bad_case="skip"``; otherwise a bad case stops the run, named) and ``manifest.csv``
(one row per slice: ``slice_id, case, slice_z, split, spacing_y, spacing_x, orig_spacing_y,
orig_spacing_x, orig_height, orig_width, target_pixels``) so every later number traces back
to its patient and slice. ``spacing_*`` is the pixel size
of the resized grid in mm, the one medpy's ASSD needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gdgp.data.layouts import describe_labels, list_cases, read_dataset, resolve_channel, resolve_labels
from gdgp.data.msd import Case, axial_slice, load_case
from gdgp.data.preprocess import denoise, percentile_window, resize_pair, window_normalise
from gdgp.data.slice_set import SKIPPED_COLUMNS, SliceSet, save_slices
from gdgp.data.splits import split_slices
from gdgp.errors import ConfigError, InputDataError
from gdgp.schema_defaults import schema_default

log = logging.getLogger(__name__)

BAD_CASE_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class ExtractConfig:
    """How to turn a task into slices: the workflow config's ``datasets.<name>``, ``preprocess``
    and ``split`` (``split`` is ``split.mode``, ``seed`` ``split.seed``; every other field has its
    key's name). Defaults are the config schema's (:mod:`gdgp.schema_defaults`); the keys
    without one have none here either.

    ``labels``: target label values and/or names from the dataset's ``dataset.json``.
    ``window``: CT window [lower, upper] in HU, or None for per-volume percentile
    normalisation (non-CT data, :func:`gdgp.data.preprocess.percentile_window`). ``channel``: the
    channel of a multi-channel dataset (ignored for one channel). ``dataset``: the config
    name, for messages.
    """

    labels: tuple[int | str, ...]
    window: tuple[float, float] | None
    n_train: int
    n_test: int
    n_val: int = schema_default("datasets.*.n_val")
    channel: int | None = schema_default("datasets.*.channel")
    size: int = schema_default("preprocess.size")
    denoise: float = schema_default("preprocess.denoise")
    min_pixels: int = schema_default("preprocess.min_pixels")
    on_bad_case: str = schema_default("preprocess.on_bad_case")
    split: str = schema_default("split.mode")
    seed: int = schema_default("split.seed")
    dataset: str = ""

    def __post_init__(self) -> None:
        if self.on_bad_case not in BAD_CASE_POLICIES:
            raise ValueError(f"on_bad_case must be one of {BAD_CASE_POLICIES}, got {self.on_bad_case!r}")


def _skip_row(task_dir: Path, case: Case, reason: str) -> dict[str, str]:
    return {
        "task": task_dir.name,
        "case": case.name,
        "image": str(case.image),
        "label": str(case.label),
        "reason": reason,
    }


def _values(label: np.ndarray) -> list[int]:
    """The label values present in a uint8 label volume."""
    return np.flatnonzero(np.bincount(label.ravel(), minlength=1)).tolist()


def _candidates(
    task_dir: Path, cfg: ExtractConfig
) -> tuple[pd.DataFrame, dict[str, tuple[Case, tuple[float, float, float]]], pd.DataFrame, tuple[int, ...]]:
    """Valid (case, slice) pairs, the usable cases, the skipped ones (``on_bad_case="skip"``)
    and the target label values.

    A case with none of the target label values is a bad case too (a wrong label, or a
    patient without the target): named in an error, or skipped and listed. When no case at
    all holds them, the labels are wrong: an error whatever the policy.
    """
    info = read_dataset(task_dir)
    labels = resolve_labels(info, cfg.labels)
    channel = resolve_channel(info, cfg.channel, cfg.dataset)
    rows: list[dict[str, object]] = []
    volumes: dict[str, tuple[Case, tuple[float, float, float]]] = {}
    skipped: list[dict[str, str]] = []
    no_target: list[tuple[Case, str]] = []
    present: set[int] = set()
    skip = cfg.on_bad_case == "skip"
    for case in tqdm(list_cases(info, channel, check_files=not skip), desc=f"scan {task_dir.name}", unit="case"):
        try:
            vol = load_case(case)
        except InputDataError as err:
            if not skip:
                raise
            log.warning("skipping case %s: %s", case.name, err)
            skipped.append(_skip_row(task_dir, case, str(err)))
            continue
        target = np.isin(vol.label, labels)
        areas = target.sum(axis=(0, 1))
        if not areas.any():
            values = _values(vol.label)
            present.update(values)
            no_target.append(
                (
                    case,
                    f"case {case.name} holds none of the target label value(s) {list(labels)}; "
                    f"its label values are {values}",
                )
            )
            continue
        for z in np.flatnonzero(areas >= cfg.min_pixels):
            rows.append({"case": vol.case, "slice_z": int(z)})
        volumes[vol.case] = (case, vol.spacing_xyz)
    if no_target and not volumes:
        also = f"; {len(skipped)} unreadable case(s) skipped" if skipped else ""
        raise InputDataError(
            f"{task_dir}: no valid slice: no case holds the target label value(s) {list(labels)} (the label values "
            f"present are {sorted(present)}; dataset.json's labels: {describe_labels(info.labels) or 'none'}){also}"
        )
    if no_target and not skip:
        case, reason = no_target[0]
        others = [c.name for c, _ in no_target[1:]]
        more = f"; {len(others)} more case(s) lack them too: {', '.join(others[:10])}" if others else ""
        more += ", ..." if len(others) > 10 else ""
        raise InputDataError(
            f"{case.label}: {reason}{more} (preprocess.on_bad_case: skip leaves such cases out, listed in skipped.csv)"
        )
    unreadable = len(skipped)
    for case, reason in no_target:
        log.warning("skipping case %s: %s", case.name, reason)
        skipped.append(_skip_row(task_dir, case, reason))
    if not rows:
        also = f"; {unreadable} unreadable case(s) skipped" if unreadable else ""
        also += f"; {len(no_target)} case(s) without the target skipped" if no_target else ""
        raise InputDataError(
            f"{task_dir}: no valid slice (no axial slice has >= {cfg.min_pixels} pixels of "
            f"label(s) {list(labels)}{also})"
        )
    skipped.sort(key=lambda r: r["case"])
    skipped_df = pd.DataFrame(skipped, columns=SKIPPED_COLUMNS)
    return pd.DataFrame(rows), volumes, skipped_df, labels


def extract_slices(task_dir: str | Path, cfg: ExtractConfig) -> SliceSet:
    """Find valid slices of ``task_dir``, split them, preprocess the chosen ones.

    Raises:
        InputDataError: missing/corrupt files, image/label shape or affine mismatch, a case
            without the target (unless ``cfg.on_bad_case`` is ``"skip"``: then those cases
            are listed in ``SliceSet.skipped``), or no valid slice.
        ConfigError: an unknown label name, or a multi-channel dataset without ``cfg.channel``.
    """
    task_dir = Path(task_dir)
    cand, volumes, skipped, target_labels = _candidates(task_dir, cfg)
    cand["split"] = split_slices(cand["case"], cfg.n_train, cfg.n_test, cfg.split, cfg.seed, cfg.n_val)
    chosen = cand[cand["split"] != ""].sort_values(["case", "slice_z"]).reset_index(drop=True)
    images, labels, rows = [], [], []
    for case_name, group in tqdm(chosen.groupby("case", sort=True), desc="preprocess", unit="case"):
        case, _ = volumes[str(case_name)]
        vol = load_case(case)
        sx, sy, _ = vol.spacing_xyz
        window = cfg.window if cfg.window is not None else percentile_window(vol.image)
        if not window[1] > window[0]:
            raise InputDataError(f"{case.image}: constant intensity {window[0]}: nothing to normalise")
        for rec in group.to_dict("records"):
            hu = axial_slice(vol.image, rec["slice_z"])
            target = np.isin(axial_slice(vol.label, rec["slice_z"]), target_labels).astype(np.uint8)
            img = denoise(window_normalise(hu, *window), cfg.denoise)
            img, lab = resize_pair(img, target, cfg.size)
            if lab.sum() == 0:  # target vanished in the resize: not a valid slice at this size
                continue
            h, w = hu.shape
            images.append(img)
            labels.append(lab)
            rows.append(
                {
                    "case": case_name,
                    "slice_z": rec["slice_z"],
                    "split": rec["split"],
                    "spacing_y": sy * h / cfg.size,
                    "spacing_x": sx * w / cfg.size,
                    "orig_spacing_y": sy,
                    "orig_spacing_x": sx,
                    "orig_height": h,
                    "orig_width": w,
                    "target_pixels": int(lab.sum()),
                }
            )
    manifest = pd.DataFrame(rows)
    manifest.insert(0, "slice_id", np.arange(len(manifest)))
    for split in ("train", "test"):
        if not (manifest["split"] == split).any():
            raise InputDataError(f"{task_dir}: no {split} slice left after preprocessing")
    return SliceSet(np.stack(images), np.stack(labels), manifest, skipped)


def run_extract(
    task_dir: str | Path,
    cfg: ExtractConfig,
    npz_path: str | Path,
    manifest_path: str | Path,
    skipped_path: str | Path | None = None,
) -> SliceSet:
    """Extract, then save (the ``gdgp extract`` verb)."""
    slices = extract_slices(task_dir, cfg)
    save_slices(slices, npz_path, manifest_path, skipped_path)
    return slices


def parse_labels(values: Sequence[int | str]) -> tuple[int | str, ...]:
    """Target labels from the command line or config: positive integers (label values) and/or
    names (looked up in ``dataset.json`` at extraction, :func:`gdgp.data.layouts.resolve_labels`)."""
    labels: list[int | str] = []
    for v in values:
        text = str(v).strip()
        try:
            labels.append(int(text))
        except ValueError:
            labels.append(text)
    if not labels or any(v == "" or (isinstance(v, int) and v <= 0) for v in labels):
        raise ValueError(f"target labels must be positive integers or label names, got {list(values)}")
    return tuple(labels)


def parse_window(values: Sequence[float | str] | None) -> tuple[float, float] | None:
    """``LOWER UPPER`` (a CT window in HU) or ``none``/``null`` (per-volume percentile normalisation)."""
    if values is None or (len(values) == 1 and str(values[0]).strip().lower() in ("none", "null")):
        return None
    try:
        lower, upper = (float(v) for v in values)
    except ValueError as err:
        raise ConfigError(f"window: expected LOWER UPPER (HU) or none, got {list(values)}") from err
    if not upper > lower:
        raise ConfigError(f"window: upper ({upper}) must exceed lower ({lower})")
    return lower, upper
