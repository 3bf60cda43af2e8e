"""The workflow settings each job verb reads, handed over as one JSON object (``--params``).

A rule passes a job its settings as ``gdgp <verb> --params '{"train.epochs": 60, ...}'`` (config
keys, dotted) instead of one hand-forwarded flag per key, so a new setting is a schema key, the
verb's option (:func:`gdgp.cli._setting`, whose default is the schema's) and one entry here; the
tests check that this list and the verbs' options name the same keys. Torch-free: the workflow
imports it at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Config keys read by each job verb, passed by the workflow through ``--params``. ``datasets.*.K``
#: is the job's own dataset's key K. Per-job values (the training seed, paths) stay flags.
JOB_SETTINGS: dict[str, tuple[str, ...]] = {
    "extract": (
        "datasets.*.channel",
        "datasets.*.n_val",
        "preprocess.size",
        "preprocess.denoise",
        "preprocess.min_pixels",
        "preprocess.on_bad_case",
        "split.mode",
        "split.seed",
    ),
    "train": (
        "train.epochs",
        "train.batch_size",
        "train.lr",
        "train.lr_step",
        "train.lr_gamma",
        "train.rotate_deg",
        "train.scale",
        "train.flip_prob",
        "train.device",
    ),
    "evaluate": (
        "evaluate.rounds",
        "evaluate.noise_px",
        "evaluate.seed",
        "evaluate.protocol",
        "evaluate.threshold",
        "evaluate.nsd_tolerance_mm",
        "evaluate.overlay_slices",
        "train.device",
    ),
}


def _lookup(config: Mapping[str, Any], key: str, dataset: str | None) -> Any:
    node: Any = config
    for part in key.split("."):
        if part == "*":
            if dataset is None:
                raise ValueError(f"setting {key} needs the job's dataset")
            part = dataset
        if not isinstance(node, Mapping) or part not in node:
            return None  # an optional key the config leaves out: the verb's schema default applies
        node = node[part]
    return node


def job_params(
    config: Mapping[str, Any], verb: str, dataset: str | None = None, overrides: Mapping[str, Any] | None = None
) -> str:
    """The JSON object of ``verb``'s settings read from the (validated) workflow config.

    ``overrides`` replaces values the workflow computes per job (a method's own learning rate, the
    rounds of a cut run); a key absent from the config (an optional one) is left out, so the verb's
    default applies. Keys are sorted, so the same settings give the same string (Snakemake's
    params trigger compares it).
    """
    try:
        keys = JOB_SETTINGS[verb]
    except KeyError:
        raise ValueError(f"no job settings for verb {verb!r}; verbs with settings: {', '.join(JOB_SETTINGS)}") from None
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(keys)
    if unknown:
        raise ValueError(f"gdgp {verb} reads no setting {', '.join(sorted(unknown))}")
    values = {}
    for key in keys:
        value = overrides[key] if key in overrides else _lookup(config, key, dataset)
        if value is not None:
            values[key] = value
    return json.dumps(values, sort_keys=True)
