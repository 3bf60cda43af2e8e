"""``nnunet``: the real nnU-Net v2 (Isensee et al., Nature Methods 2021), 2D configuration, no clicks.

Training runs nnU-Net's own pipeline on the training slices, unchanged:

1. export: every slice becomes one case of a private ``nnUNet_raw/Dataset999_gdgp`` (NIfTI,
   shape (1, H, W); spacing (999, 1, 1) as nnU-Net's own 2D image reader marks 2D data: the
   slices are already on one common pixel grid, which every method works on, so nnU-Net
   does not resample them; channel ``image`` → nnU-Net's per-image z-score normalisation;
   label 1 = the target);
2. ``nnUNetv2_plan_and_preprocess -c 2d`` (fingerprint, plans, preprocessing);
3. nnU-Net's trainer (``trainer``, default ``nnUNetTrainer``) on all slices (fold ``all``:
   no held-out fold, like the other methods), through :mod:`gdgp.methods.nnunet_train`,
   which equals ``nnUNetv2_train <id> 2d all -tr <trainer>`` except that ``epochs``,
   ``iterations_per_epoch`` and ``val_iterations_per_epoch`` can override nnU-Net's
   1000 x 250 (+ 50) budget (the MSD config keeps nnU-Net's, the CPU demo cannot) and that
   nnU-Net's final validation pass is skipped (gdgp scores the test slices itself).

Resuming: nnU-Net's folders live in ``work_dir`` (the trainer passes ``<model dir>/work``, a
fixed path that a killed job leaves behind and that is removed only after ``final.pt`` is
written). ``gdgp_run.json`` there records the training data's hash and the settings once
planning has finished; a re-run with the same record skips export and planning and continues
through nnU-Net's own ``--c`` (``checkpoint_latest.pth``, written every ``save_every``
epochs, nnU-Net's 50 by default; see :mod:`gdgp.methods.nnunet_train`). Anything else in
``work_dir`` (another run's files, a planning step cut short) is removed and the run starts
afresh. The resumed epochs are not bit-identical to an uninterrupted run (nnU-Net does not
store its data loader's state).

The three environment variables nnU-Net reads (``nnUNet_raw``, ``nnUNet_preprocessed``,
``nnUNet_results``) are set for those subprocesses only, to folders inside the job's own
work directory, never from the user's shell. The checkpoint keeps nnU-Net's plans and
dataset.json as strings (``extra_state``) and the network weights, so prediction rebuilds
nnU-Net's network and runs its own ``nnUNetPredictor`` (sliding window, Gaussian weighting,
mirroring as trained) on each test slice. Automatic: its per-click curve is flat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from torch import nn

from gdgp.atomic import write_text_atomic
from gdgp.clicks.robot import Click
from gdgp.errors import GdgpError
from gdgp.methods.base import ExternallyTrainedMethod, Images
from gdgp.methods.settings import MethodSettings, require, setting

log = logging.getLogger(__name__)

DATASET_ID = 999
DATASET_NAME = f"Dataset{DATASET_ID}_gdgp"
#: In a work folder: the data hash and settings of the run planned there (written once planning is done).
RUN_RECORD = "gdgp_run.json"
#: Settings that do not change what is trained, so a run may resume under other values.
_NOT_IN_RUN_RECORD = ("use_mirroring", "save_every")


def _nnunet_env(work: Path, augmentation_processes: int | None = None) -> dict[str, str]:
    """Environment of the nnU-Net subprocesses: its three folders inside ``work``.

    ``augmentation_processes``: None keeps nnU-Net's own choice (its worker processes, for a
    GPU box); 0 makes nnU-Net augment in the training process itself (its
    ``SingleThreadedAugmenter``): the only way its training is reproducible from the seed,
    and on a 1-core job it spares the worker's contention.
    """
    env = {
        **os.environ,
        "nnUNet_raw": str(work / "raw"),
        "nnUNet_preprocessed": str(work / "preprocessed"),
        "nnUNet_results": str(work / "results"),
        "nnUNet_def_n_proc": "1",
    }
    env.pop("nnUNet_n_proc_DA", None)
    if augmentation_processes is not None:
        env["nnUNet_n_proc_DA"] = str(augmentation_processes)
    return env


#: Spacing of every exported slice and of prediction inputs, in nnU-Net's array order (z, y, x).
SPACING = (999.0, 1.0, 1.0)


def _write_case(path: Path, array: np.ndarray) -> None:
    img = sitk.GetImageFromArray(array[None])  # (z=1, y, x)
    img.SetSpacing(SPACING[::-1])  # sitk order: x, y, z
    sitk.WriteImage(img, str(path), useCompression=True)


def export_raw_dataset(images: np.ndarray, labels: np.ndarray, raw_root: Path) -> Path:
    """Write the slices as an nnU-Net v2 raw dataset; returns its folder."""
    folder = raw_root / DATASET_NAME
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        _write_case(folder / "imagesTr" / f"slice_{i:05d}_0000.nii.gz", img.astype(np.float32))
        _write_case(folder / "labelsTr" / f"slice_{i:05d}.nii.gz", (lab > 0).astype(np.uint8))
    meta = {
        "channel_names": {"0": "image"},
        "labels": {"background": 0, "target": 1},
        "numTraining": len(images),
        "file_ending": ".nii.gz",
    }
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2))
    return folder


def _run(cmd: Sequence[str], env: dict[str, str], log_path: Path) -> None:
    """Run an nnU-Net command; its output goes to ``log_path``; failure raises with the tail."""
    log.info("running %s", " ".join(cmd))
    with open(log_path, "a") as fh:
        proc = subprocess.run(list(cmd), env=env, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "".join(Path(log_path).read_text().splitlines(keepends=True)[-25:])
        raise GdgpError(f"nnU-Net step failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")


def _entry_point(name: str) -> str:
    """The nnU-Net console script beside this interpreter (the venv's), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def plan_and_preprocess(images: np.ndarray, labels: np.ndarray, work_dir: Path, configuration: str = "2d") -> None:
    """Export the slices into ``work_dir/raw`` and run ``nnUNetv2_plan_and_preprocess`` on them
    (one process; its output is appended to ``work_dir/nnunet.log``)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    export_raw_dataset(images, labels, work_dir / "raw")
    # The planner sets torch's thread count to nnUNet_n_proc_DA, so it must be >= 1 there.
    _run(
        [
            _entry_point("nnUNetv2_plan_and_preprocess"),
            "-d",
            str(DATASET_ID),
            "-c",
            configuration,
            "-np",
            "1",
            "-npfp",
            "1",
            "--verify_dataset_integrity",
        ],
        _nnunet_env(work_dir, 1),
        work_dir / "nnunet.log",
    )


def data_hash(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of the training slices as nnU-Net receives them (float32 images, binary labels)."""
    h = hashlib.sha256()
    for array in (np.ascontiguousarray(images, np.float32), np.ascontiguousarray(labels > 0)):
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    return h.hexdigest()


def can_resume(work_dir: Path, record: dict[str, Any]) -> bool:
    """True when ``work_dir`` holds a finished planning step of this very run (its
    :data:`RUN_RECORD` equals ``record``); otherwise empty ``work_dir`` (another run's files,
    or planning cut short) and return False."""
    path = work_dir / RUN_RECORD
    try:
        same = json.loads(path.read_text()) == json.loads(json.dumps(record))
    except (OSError, ValueError):
        same = False
    if same:
        return True
    if work_dir.exists() and any(work_dir.iterdir()):
        log.warning("%s holds files of another or unfinished nnU-Net run; starting afresh", work_dir)
        shutil.rmtree(work_dir)
    return False


class NNUNet(ExternallyTrainedMethod):
    """nnU-Net v2, 2D configuration, trained and run by nnU-Net itself."""

    name = "nnunet"
    interactive = False

    @dataclass(frozen=True)
    class Settings(MethodSettings):
        trainer: str = setting("nnUNetTrainer", "nnU-Net trainer class (nnUNetTrainer = nnU-Net's defaults).")
        configuration: str = setting("2d", "nnU-Net configuration (slices are 2D).")
        epochs: int | None = setting(None, "Override the trainer's epochs (null = nnU-Net's 1000).")
        iterations_per_epoch: int | None = setting(
            None, "Override nnU-Net's 250 training iterations per epoch (null = keep)."
        )
        val_iterations_per_epoch: int | None = setting(
            None, "Override nnU-Net's 50 validation iterations per epoch (null = keep)."
        )
        use_mirroring: bool = setting(True, "Test-time mirroring as nnU-Net trained it.")
        augmentation_processes: int | None = setting(
            None,
            "nnU-Net's data-augmentation worker processes "
            "(nnUNet_n_proc_DA). 0 = augment inside the training process, "
            "which makes nnU-Net's training reproducible from the seed and "
            "suits 1-core jobs; null = nnU-Net's own default (GPU boxes).",
        )
        save_every: int | None = setting(
            None,
            "Epochs between nnU-Net's checkpoint_latest.pth writes (null = "
            "nnU-Net's 50): a killed training re-run continues from the last one "
            "through nnU-Net's own --c, so at most this many epochs are lost.",
        )

        def check(self) -> None:
            require(self.configuration == "2d", "configuration", "'2d' (slices)", self.configuration)
            require(
                self.trainer.startswith("nnUNetTrainer"),
                "trainer",
                "an nnU-Net trainer class (nnUNetTrainer...)",
                self.trainer,
            )
            for key in ("epochs", "iterations_per_epoch", "val_iterations_per_epoch", "save_every"):
                require(getattr(self, key) is None or getattr(self, key) >= 1, key, ">= 1 or null", getattr(self, key))
            require(
                self.augmentation_processes is None or self.augmentation_processes >= 0,
                "augmentation_processes",
                ">= 0 or null",
                self.augmentation_processes,
            )

    def __init__(self, **hparams: Any) -> None:
        self._state: dict[str, str] = {}
        super().__init__(**hparams)
        self._predictor = None

    # --- network: nnU-Net's, rebuilt from its plans ------------------------------------------
    def build_network(self) -> nn.Module:
        """An empty module until nnU-Net has planned (its architecture comes from the plans)."""
        if not self._state:
            return nn.Module()
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        plans = PlansManager(json.loads(self._state["plans"]))
        conf = plans.get_configuration(self.hparams["configuration"])
        n_out = plans.get_label_manager(json.loads(self._state["dataset_json"])).num_segmentation_heads
        return get_network_from_plans(
            conf.network_arch_class_name,
            conf.network_arch_init_kwargs,
            conf.network_arch_init_kwargs_req_import,
            1,
            n_out,
            allow_init=True,
            deep_supervision=False,
        )

    def extra_state(self) -> dict[str, str]:
        return dict(self._state)

    def load_extra_state(self, state: dict[str, str]) -> None:
        self._state = dict(state)
        self.network = self.build_network().to(self.device)
        self._predictor = None

    # --- training ---------------------------------------------------------------------------
    def run_record(self, images: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
        """What a resumed run must share with the killed one: the data, the seed, the settings."""
        return {
            "data_sha256": data_hash(images, labels),
            "seed": int(seed),
            "hparams": {k: v for k, v in self.hparams.items() if k not in _NOT_IN_RUN_RECORD},
        }

    def train_external(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        work_dir: Path,
        epochs: int,
        seed: int,
        *,
        stop_after_epoch: int | None = None,
    ) -> list[dict[str, float]]:
        """Export, plan + preprocess, train with nnU-Net; load the result; per-epoch history.

        ``epochs`` is not used: the nnU-Net trainer class sets the epoch budget. A ``work_dir``
        left by a killed run of the same data and settings is resumed (module docstring).
        ``stop_after_epoch``: nnU-Net's process exits without finishing after that epoch, as
        if killed (tests); this then raises :class:`GdgpError`.
        """
        n_da = self.hparams["augmentation_processes"]
        train_env = _nnunet_env(work_dir, None if n_da is None else int(n_da))
        log_path = work_dir / "nnunet.log"
        conf, trainer = self.hparams["configuration"], self.hparams["trainer"]
        record = self.run_record(images, labels, seed)
        resume = can_resume(work_dir, record)
        if resume:
            log.info("resuming nnU-Net in %s (nnU-Net's --c: its checkpoint_latest.pth, if any)", work_dir)
        else:
            plan_and_preprocess(images, labels, work_dir, conf)
            write_text_atomic(work_dir / RUN_RECORD, json.dumps(record, indent=1))
        cmd = [
            sys.executable,
            "-m",
            "gdgp.methods.nnunet_train",
            "--dataset",
            str(DATASET_ID),
            "--configuration",
            conf,
            "--trainer",
            trainer,
            "--seed",
            str(seed),
            "--device",
            "cuda" if self.device.type == "cuda" else "cpu",
        ]
        for key, flag in (
            ("epochs", "--epochs"),
            ("iterations_per_epoch", "--iterations"),
            ("val_iterations_per_epoch", "--val-iterations"),
            ("save_every", "--save-every"),
        ):
            if self.hparams[key] is not None:
                cmd += [flag, str(int(self.hparams[key]))]
        if resume:
            cmd.append("--continue")
        if stop_after_epoch is not None:
            cmd += ["--stop-after-epoch", str(int(stop_after_epoch))]
        seen = log_path.stat().st_size if log_path.exists() else 0
        try:
            _run(cmd, train_env, log_path)
        finally:  # nnunet_train's own lines (where it continued, a simulated kill) into gdgp's log
            with open(log_path, "rb") as fh:
                fh.seek(seen)
                for line in fh.read().decode(errors="replace").splitlines():
                    if line.startswith("gdgp: "):
                        log.info("%s", line[len("gdgp: ") :])
        model_dir = work_dir / "results" / DATASET_NAME / f"{trainer}__nnUNetPlans__{conf}"
        # nnU-Net pickles its own checkpoint (written by the subprocess above, not user input).
        ckpt = torch.load(model_dir / "fold_all" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
        self.load_extra_state(
            {
                "plans": (model_dir / "plans.json").read_text(),
                "dataset_json": (model_dir / "dataset.json").read_text(),
                "trainer_name": ckpt["trainer_name"],
                "mirroring_axes": json.dumps(ckpt.get("inference_allowed_mirroring_axes")),
            }
        )
        self.network.load_state_dict(ckpt["network_weights"])
        logs = ckpt["logging"]
        starts, ends = logs["epoch_start_timestamps"], logs["epoch_end_timestamps"]
        return [
            {
                "epoch": i + 1,
                "loss": float(logs["train_losses"][i]),
                "lr": float(logs["lrs"][i]),
                "seconds": float(ends[i] - starts[i]),
                "val_loss": float(logs["val_losses"][i]),
                "pseudo_dice": float(np.mean(logs["dice_per_class_or_region"][i])),
            }
            for i in range(len(logs["train_losses"]))
        ]

    # --- prediction -------------------------------------------------------------------------
    def _get_predictor(self) -> Any:  # an nnUNetPredictor (nnunetv2 ships no types)
        if self._predictor is None:
            if not self._state:
                raise GdgpError("nnunet: no trained model (train it first; the checkpoint has no plans)")
            from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
            from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

            plans = PlansManager(json.loads(self._state["plans"]))
            axes = json.loads(self._state["mirroring_axes"])
            predictor = nnUNetPredictor(
                tile_step_size=0.5,
                use_gaussian=True,
                use_mirroring=bool(self.hparams["use_mirroring"]) and axes is not None,
                perform_everything_on_device=self.device.type == "cuda",
                device=self.device,
                verbose=False,
                verbose_preprocessing=False,
                allow_tqdm=False,
            )
            predictor.manual_initialization(
                self.network,
                plans,
                plans.get_configuration(self.hparams["configuration"]),
                [self.network.state_dict()],
                json.loads(self._state["dataset_json"]),
                self._state["trainer_name"],
                None if axes is None else tuple(axes),
            )
            self._predictor = predictor
        return self._predictor

    def predict_batch(self, images: Images, clicks: Sequence[Sequence[Click]], prev_masks: Images) -> np.ndarray:
        """Foreground probability of each slice from nnU-Net's own predictor (same spacing as the
        exported training cases, so no resampling)."""
        predictor = self._get_predictor()
        out = []
        with self.inference():
            for image in images:
                _, probs = predictor.predict_single_npy_array(
                    np.asarray(image, np.float32)[None, None], {"spacing": list(SPACING)}, None, None, True
                )
                out.append(np.asarray(probs[1, 0], dtype=np.float32))
        return np.stack(out)
