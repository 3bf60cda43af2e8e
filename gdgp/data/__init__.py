"""Data stage: dataset layouts (MSD, nnU-Net raw), preprocessing, patient splits, slice
extraction, the slice set every later stage reads, and the embedded synthetic demo."""
