"""gdgp: reproducible benchmark of interactive medical image segmentation.

Gaussian geodesic click encoding + hybrid-kernel Gaussian-process classification (GDGP)
and the baselines it is compared with, trained and scored by one simulated user.
"""

from __future__ import annotations

__version__ = "0.1.0"
