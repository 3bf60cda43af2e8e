"""Run nnU-Net v2's own trainer on a prepared dataset (``python -m gdgp.methods.nnunet_train``).

A subprocess of :class:`gdgp.methods.nnunet.NNUNet` (nnU-Net reads its folders from the
environment at import time, so it runs with its own environment). The same as
``nnUNetv2_train <id> 2d all -tr <trainer> [--c]``, except that:

* the epoch and iteration budgets can be set (the CPU demo cannot afford 1000 x 250
  iterations), and so can nnU-Net's checkpoint interval (``save_every``, nnU-Net's 50 epochs);
* ``--continue`` is nnU-Net's ``--c``: its own ``maybe_load_checkpoint`` picks
  ``checkpoint_final.pth``, else ``checkpoint_latest.pth``, else ``checkpoint_best.pth`` and
  nnU-Net's ``run_training`` goes on from the epoch stored there (or starts afresh when there
  is none). The resumed epochs reseed from (seed, first resumed epoch), so that they do not
  replay the first epochs' batches;
* nnU-Net's checkpoints are written atomically (temporary name, then rename), so a kill
  while ``checkpoint_latest.pth`` is being written leaves the previous one intact;
* nnU-Net's final validation pass is skipped (gdgp's evaluation scores the held-out test
  slices instead);
* ``--stop-after-epoch k`` ends the process without finishing once epoch k is done, as a
  killed job would (tests; cf. ``stop_after_epoch`` of :func:`gdgp.training.trainer.train_method`).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from typing import Any

import numpy as np
import torch

#: Exit status of a run ended by ``--stop-after-epoch`` (a simulated kill).
STOPPED_EXIT = 3


def _seed(seed: int, epoch: int = 0) -> None:
    """nnU-Net's data loader and augmentation draw from numpy's and Python's global generators."""
    if epoch:
        seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - nnU-Net's augmentation draws from the global numpy RNG
    torch.manual_seed(seed)


def atomic_checkpoints(trainer: Any) -> None:
    """Make ``trainer.save_checkpoint`` write to ``<name>.tmp`` and rename it onto ``<name>``."""
    save = trainer.save_checkpoint

    def save_atomically(filename: str) -> None:
        tmp = f"{filename}.tmp"
        save(tmp)
        if os.path.exists(tmp):  # nothing is written with checkpointing disabled or on other ranks
            os.replace(tmp, filename)

    trainer.save_checkpoint = save_atomically


def stop_after_epoch(trainer: Any, epochs: int) -> None:
    """End the process (exit :data:`STOPPED_EXIT`, nothing cleaned up) after epoch ``epochs``
    (1-based) unless that was the last one: a job killed between epochs."""
    end = trainer.on_epoch_end

    def end_then_stop() -> None:
        end()  # increments trainer.current_epoch (0-based) to the number of epochs done
        if epochs <= trainer.current_epoch < trainer.num_epochs:
            print(
                f"gdgp: stopping after epoch {trainer.current_epoch} of {trainer.num_epochs} (simulated kill)",
                flush=True,
            )
            sys.stdout.flush()
            os._exit(STOPPED_EXIT)

    trainer.on_epoch_end = end_then_stop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="nnU-Net dataset id")
    ap.add_argument("--configuration", default="2d")
    ap.add_argument("--trainer", default="nnUNetTrainer", help="nnU-Net trainer class name")
    ap.add_argument("--epochs", type=int, default=None, help="override the trainer's num_epochs")
    ap.add_argument("--iterations", type=int, default=None, help="override num_iterations_per_epoch")
    ap.add_argument("--val-iterations", type=int, default=None, help="override num_val_iterations_per_epoch")
    ap.add_argument(
        "--save-every",
        type=int,
        default=None,
        help="override save_every (epochs between checkpoint_latest.pth writes; nnU-Net's 50)",
    )
    ap.add_argument(
        "--continue",
        dest="continue_training",
        action="store_true",
        help="nnU-Net's --c: continue from the trainer's checkpoint, if there is one",
    )
    ap.add_argument(
        "--stop-after-epoch",
        type=int,
        default=None,
        help="exit without finishing after this epoch (simulates a killed job)",
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    _seed(args.seed)
    from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint

    trainer = get_trainer_from_args(
        args.dataset,
        args.configuration,
        "all",
        args.trainer,
        continue_training=args.continue_training,
        device=torch.device(args.device),
    )
    # Before the checkpoint loads: loading initialises the trainer, whose LR schedule needs num_epochs.
    if args.epochs is not None:
        trainer.num_epochs = args.epochs
    if args.iterations is not None:
        trainer.num_iterations_per_epoch = args.iterations
    if args.val_iterations is not None:
        trainer.num_val_iterations_per_epoch = args.val_iterations
    if args.save_every is not None:
        trainer.save_every = args.save_every
    atomic_checkpoints(trainer)
    if args.stop_after_epoch is not None:
        stop_after_epoch(trainer, args.stop_after_epoch)
    maybe_load_checkpoint(trainer, args.continue_training, False)
    if trainer.current_epoch > 0:
        print(
            f"gdgp: nnU-Net continues at epoch {trainer.current_epoch} (0-based; {trainer.current_epoch} of "
            f"{trainer.num_epochs} done before)",
            flush=True,
        )
        _seed(args.seed, trainer.current_epoch)
    trainer.run_training()


if __name__ == "__main__":
    main()
