"""Run nnU-Net v2's own trainer on a prepared dataset (``python -m gdgp.methods.nnunet_train``).

A subprocess of :class:`gdgp.methods.nnunet.NNUNet` (nnU-Net reads its folders from the
environment at import time, so it runs with its own environment). The same as
``nnUNetv2_train <id> 2d all -tr <trainer>``, except that the epoch and iteration budgets
can be set (the CPU demo cannot afford 1000 x 250 iterations) and nnU-Net's final
validation pass is skipped (gdgp's evaluation scores the held-out test slices instead).
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="nnU-Net dataset id")
    ap.add_argument("--configuration", default="2d")
    ap.add_argument("--trainer", default="nnUNetTrainer", help="nnU-Net trainer class name")
    ap.add_argument("--epochs", type=int, default=None, help="override the trainer's num_epochs")
    ap.add_argument("--iterations", type=int, default=None, help="override num_iterations_per_epoch")
    ap.add_argument("--val-iterations", type=int, default=None, help="override num_val_iterations_per_epoch")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    # nnU-Net's data loader and augmentation draw from numpy's and Python's global generators.
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    from nnunetv2.run.run_training import get_trainer_from_args

    trainer = get_trainer_from_args(args.dataset, args.configuration, "all", args.trainer,
                                    device=torch.device(args.device))
    if args.epochs is not None:
        trainer.num_epochs = args.epochs
    if args.iterations is not None:
        trainer.num_iterations_per_epoch = args.iterations
    if args.val_iterations is not None:
        trainer.num_val_iterations_per_epoch = args.val_iterations
    trainer.run_training()


if __name__ == "__main__":
    main()
