"""Training: augmentation, the shared training loop, checkpoints."""
