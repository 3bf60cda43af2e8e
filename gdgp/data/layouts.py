"""The two dataset folder layouts gdgp reads, told apart by their ``dataset.json``.

**MSD task** (Medical Segmentation Decathlon, http://medicaldecathlon.com/), ``TaskNN_Name/``:
``dataset.json`` maps label *values* to names (``"labels": {"0": "background", "1": "pancreas"}``),
names the channels in ``modality`` (``{"0": "CT"}``) and lists the cases in ``training``
(``{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}``); a multi-channel image
is one 4D NIfTI, channels along the 4th dimension. Read by :mod:`gdgp.data.msd`.

**nnU-Net v2 raw dataset**, ``DatasetNNN_Name/``, as nnU-Net's own documentation defines it
(``documentation/dataset_format.md`` of https://github.com/MIC-DKFZ/nnUNet, "nnU-Net dataset
format"; region labels: ``documentation/region_based_training.md``): ``dataset.json`` has
``channel_names`` ("formerly modalities", ``{"0": "CT"}``), ``labels`` mapping *names* to
values (``{"background": 0, "pancreas": 1}``; "structured differently (name -> int instead
of int -> name)"; in region-based training a value is a list of labels, e.g.
``"whole_tumor": [1, 2, 3]``, here the union of those values), ``numTraining`` and
``file_ending`` (``".nii.gz"``), and no case list. A training case ``X`` is one image per
channel, ``imagesTr/X_0000<file_ending>``, ``X_0001``... ("a four-digit integer at the end of
the filename") and its segmentation ``labelsTr/X<file_ending>``; as in nnU-Net
(``nnunetv2/utilities/utils.py``, ``get_identifiers_from_splitted_dataset_folder``) the case
identifier is the image file name without ``_XXXX<file_ending>``. A ``dataset.json`` may
instead list the files itself, ``"dataset": {case: {"images": [...], "label": ...}}``
(``get_filenames_of_train_images_and_targets`` there); that is read too. gdgp reads NIfTI
only (``file_ending`` ``.nii.gz`` or ``.nii``).

Detection: ``channel_names`` and ``file_ending`` make an nnU-Net v2 dataset; otherwise
``training`` or ``modality`` make an MSD task; anything else is an error naming the folder
and what was expected. Either way the case names are the file names without channel suffix
and ending, so the same data in either layout gives the same cases, slices and manifest.
"""

from __future__ import annotations

import logging
import numbers
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gdgp.data.msd import Case, msd_cases, read_dataset_json, require_files
from gdgp.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

MSD = "msd"
NNUNET_V2 = "nnunet_v2"
LAYOUT_NAMES = {MSD: "MSD task", NNUNET_V2: "nnU-Net v2 raw dataset"}
#: File endings nibabel reads here (nnU-Net's ``file_ending`` may name other formats).
NIFTI_ENDINGS = (".nii.gz", ".nii")


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """A dataset folder's layout and what its ``dataset.json`` declares.

    ``labels``: name -> label values (empty when ``dataset.json`` has no label map);
    ``channels``: channel index -> name (empty when it declares none).
    """

    folder: Path
    layout: str
    meta_path: Path
    meta: dict[str, Any] = field(repr=False)
    labels: dict[str, tuple[int, ...]]
    channels: dict[int, str]

    @property
    def description(self) -> str:
        return f"{self.folder} ({LAYOUT_NAMES[self.layout]})"


def detect_layout(meta: dict[str, Any], meta_path: Path) -> str:
    """:data:`MSD` or :data:`NNUNET_V2` from a parsed ``dataset.json``.

    Raises:
        InputDataError: neither layout's keys are there.
    """
    if "channel_names" in meta and "file_ending" in meta:
        return NNUNET_V2
    if "training" in meta or "modality" in meta:
        return MSD
    raise InputDataError(
        f"{meta_path.parent}: not a dataset folder gdgp can read: its dataset.json has keys {sorted(meta)}, but an "
        "MSD task needs 'training' (the case list) and 'modality', and an nnU-Net v2 raw dataset needs "
        "'channel_names' and 'file_ending' (see docs/operations.md, 'Your own data: MSD or nnU-Net layout')"
    )


def _int(value: Any, what: str, meta_path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputDataError(f"{meta_path}: {what} {value!r} is not an integer")
    try:
        return int(value)
    except ValueError as err:
        raise InputDataError(f"{meta_path}: {what} {value!r} is not an integer") from err


def _label_map(meta: dict[str, Any], layout: str, meta_path: Path) -> dict[str, tuple[int, ...]]:
    """Name -> values from ``labels`` (MSD: value -> name; nnU-Net v2: name -> value or list)."""
    raw = meta.get("labels")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputDataError(f"{meta_path}: 'labels' must be an object, got {type(raw).__name__}")
    out: dict[str, set[int]] = {}
    for key, value in raw.items():
        if layout == MSD:
            name, values = str(value), [_int(key, "label value", meta_path)]
        else:
            items = value if isinstance(value, list) else [value]
            if not items:
                raise InputDataError(f"{meta_path}: label {key!r} has an empty list of values")
            name, values = str(key), [_int(v, f"value of label {key!r}:", meta_path) for v in items]
        out.setdefault(name, set()).update(values)
    return {name: tuple(sorted(values)) for name, values in out.items()}


def _channels(meta: dict[str, Any], layout: str, meta_path: Path) -> dict[int, str]:
    key = "channel_names" if layout == NNUNET_V2 else "modality"
    raw = meta.get(key)
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise InputDataError(f"{meta_path}: '{key}' must be a non-empty object (channel index -> name)")
    return dict(sorted((_int(k, f"'{key}' index", meta_path), str(v)) for k, v in raw.items()))


def read_dataset(task_dir: str | Path) -> DatasetInfo:
    """Read ``task_dir/dataset.json`` and detect the layout.

    Raises:
        InputDataError: missing folder or ``dataset.json``, invalid JSON, neither layout, or a
            malformed ``labels``/``modality``/``channel_names``.
    """
    meta_path, meta = read_dataset_json(task_dir)
    layout = detect_layout(meta, meta_path)
    return DatasetInfo(
        Path(task_dir), layout, meta_path, meta, _label_map(meta, layout, meta_path), _channels(meta, layout, meta_path)
    )


def describe_labels(labels: dict[str, tuple[int, ...]]) -> str:
    """``'background' = 0, 'pancreas' = 1, 'region' = [1, 2]`` (empty for no labels)."""
    return ", ".join(f"{name!r} = {values[0] if len(values) == 1 else list(values)}" for name, values in labels.items())


def resolve_labels(info: DatasetInfo, wanted: Sequence[int | str]) -> tuple[int, ...]:
    """Target label values from values (ints) and/or names looked up in ``dataset.json``.

    A name matches exactly, else case-insensitively when that is unambiguous; a region (a
    list of values) contributes all of them. Returns the sorted union.

    Raises:
        ConfigError: nothing wanted, a value < 1, an unknown name (the message lists the
            known ones), or a name that means the background (0).
    """
    if not wanted:
        raise ConfigError(f"{info.folder.name}: no target label given")
    values: set[int] = set()
    for item in wanted:
        if isinstance(item, str) and re.fullmatch(r"[+-]?\d+", item.strip()):
            item = int(item)
        if isinstance(item, bool):
            raise ConfigError(f"{info.folder.name}: target label {item!r} is neither a label value nor a name")
        if isinstance(item, numbers.Integral):
            item = int(item)
            if item < 1:
                raise ConfigError(
                    f"{info.folder.name}: target label values must be positive integers (0 is the "
                    f"background), got {item}"
                )
            if info.labels and not any(item in v for v in info.labels.values()):
                log.warning(
                    "%s: label value %d is not in its labels (%s)", info.meta_path, item, describe_labels(info.labels)
                )
            values.add(item)
            continue
        name = str(item)
        found = info.labels.get(name)
        if found is None:
            folded = [n for n in info.labels if n.casefold() == name.casefold()]
            found = info.labels[folded[0]] if len(folded) == 1 else None
        if found is None:
            known = describe_labels(info.labels) if info.labels else "none (its dataset.json has no 'labels')"
            raise ConfigError(f"{info.meta_path}: no label named {name!r}; known labels: {known}")
        if 0 in found:
            raise ConfigError(f"{info.meta_path}: label {name!r} is the background (value 0), not a target")
        values.update(found)
    return tuple(sorted(values))


def resolve_channel(info: DatasetInfo, channel: int | None, dataset: str = "") -> int | None:
    """The channel to read: required (and checked) when ``dataset.json`` declares several.

    Returns the channel index; for a single-channel dataset the configured value is ignored
    (nnU-Net v2: its one channel's index; MSD: None, the image is 3D). An MSD task that
    declares no ``modality`` gets ``channel`` back as given (a 4D image then needs it).

    Raises:
        ConfigError: several channels and none (or one not declared) chosen.
    """
    who = f"dataset {dataset!r} ({info.description})" if dataset else info.description
    listing = ", ".join(f"{k} = {v!r}" for k, v in info.channels.items())
    if len(info.channels) > 1:
        if channel is None:
            key = f"datasets.{dataset}.channel" if dataset else "datasets.<name>.channel"
            raise ConfigError(
                f"{who} has {len(info.channels)} channels ({listing}): set {key} (--channel) to the "
                "index of the one to use"
            )
        if channel not in info.channels:
            raise ConfigError(f"{who}: channel {channel} is not one of its channels ({listing})")
        return channel
    if len(info.channels) == 1:
        only = next(iter(info.channels))
        if channel is not None and channel != only:
            log.warning("%s has a single channel (%s); channel %s is ignored", who, listing, channel)
        return only if info.layout == NNUNET_V2 else None
    return channel


def nnunet_cases(info: DatasetInfo, channel: int, check_files: bool = True) -> list[Case]:
    """The training cases of an nnU-Net v2 raw dataset, image = channel ``channel``'s file.

    A case is every identifier found in ``imagesTr`` (any channel) or ``labelsTr``, so a
    case whose image or label file is missing is reported, not silently dropped.

    Raises:
        InputDataError: a non-NIfTI ``file_ending``, missing ``imagesTr``/``labelsTr``, no
            case, and with ``check_files`` a case's file missing or a case count that differs
            from ``numTraining`` (without ``check_files`` the count mismatch is a warning and
            missing files are left to :func:`gdgp.data.msd.load_case`).
    """
    ending = info.meta.get("file_ending")
    if ending not in NIFTI_ENDINGS:
        raise InputDataError(
            f"{info.meta_path}: file_ending {ending!r}: gdgp reads NIfTI files only ({' or '.join(NIFTI_ENDINGS)})"
        )
    if "dataset" in info.meta:
        return _explicit_cases(info, channel, check_files)
    images, labels = info.folder / "imagesTr", info.folder / "labelsTr"
    for sub in (images, labels):
        if not sub.is_dir():
            raise InputDataError(
                f"{sub}: missing (an nnU-Net v2 raw dataset keeps its training cases in imagesTr/ and labelsTr/)"
            )
    image_name = re.compile(r"(.+)_(\d{4})" + re.escape(ending))
    ids = {m.group(1) for p in images.iterdir() if not p.name.startswith(".") and (m := image_name.fullmatch(p.name))}
    ids |= {
        p.name[: -len(ending)]
        for p in labels.iterdir()
        if not p.name.startswith(".") and p.name.endswith(ending) and len(p.name) > len(ending)
    }
    if not ids:
        raise InputDataError(
            f"{info.folder}: no training case (an nnU-Net v2 raw dataset has imagesTr/<case>_0000"
            f"{ending} and labelsTr/<case>{ending})"
        )
    _check_count(info, len(ids), "imagesTr/ and labelsTr/ hold", check_files)
    where = (
        f"expected for case {{}} (nnU-Net v2 layout: imagesTr/<case>_{channel:04d}{ending}, labelsTr/<case>{ending})"
    )
    cases = []
    for name in sorted(ids):
        case = Case(
            name=name,
            image=images / f"{name}_{channel:04d}{ending}",
            label=labels / f"{name}{ending}",
            listed_in=where.format(name),
        )
        if check_files:
            require_files(case)
        cases.append(case)
    return cases


def _check_count(info: DatasetInfo, found: int, where: str, strict: bool) -> None:
    """numTraining against the cases found: an error (``strict``) or a warning."""
    expected = info.meta.get("numTraining")
    if isinstance(expected, int) and not isinstance(expected, bool) and expected != found:
        msg = (
            f"{info.meta_path}: numTraining is {expected} but {where} {found} case(s) (fix numTraining, or restore "
            "the missing cases)"
        )
        if strict:
            raise InputDataError(msg)
        log.warning(msg)


def _explicit_cases(info: DatasetInfo, channel: int, check_files: bool) -> list[Case]:
    """Cases of an nnU-Net v2 ``dataset.json`` that lists its files itself: ``"dataset": {case:
    {"images": [one path per channel], "label": path}}``, paths relative to the dataset folder
    or absolute, environment variables expanded (as ``nnunetv2.utilities.utils.
    get_filenames_of_train_images_and_targets`` reads it)."""
    entries = info.meta["dataset"]
    if not isinstance(entries, dict) or not entries:
        raise InputDataError(f"{info.meta_path}: 'dataset' must be a non-empty object (case -> images, label)")

    def path(p: Any) -> Path:
        if not isinstance(p, str):
            raise InputDataError(f"{info.meta_path}: file path {p!r} is not a string")
        expanded = Path(os.path.expandvars(p))
        return expanded if expanded.is_absolute() else info.folder / expanded

    cases = []
    for name in sorted(entries):
        entry = entries[name]
        if not isinstance(entry, dict) or not isinstance(entry.get("images"), list) or "label" not in entry:
            raise InputDataError(f"{info.meta_path}: 'dataset' entry {name!r} needs 'images' (a list) and 'label'")
        if not 0 <= channel < len(entry["images"]):
            raise InputDataError(
                f"{info.meta_path}: case {name!r} lists {len(entry['images'])} image(s), no channel {channel}"
            )
        case = Case(
            name=name,
            image=path(entry["images"][channel]),
            label=path(entry["label"]),
            listed_in=f"listed for case {name} in {info.meta_path}",
        )
        if check_files:
            require_files(case)
        cases.append(case)
    _check_count(info, len(cases), "its 'dataset' lists", check_files)
    return cases


def list_cases(info: DatasetInfo, channel: int | None = None, check_files: bool = True) -> list[Case]:
    """The training cases of either layout, sorted by name; ``channel`` from :func:`resolve_channel`."""
    if info.layout == NNUNET_V2:
        return nnunet_cases(info, 0 if channel is None else channel, check_files)
    return msd_cases(info.folder, info.meta_path, info.meta, check_files, channel)
