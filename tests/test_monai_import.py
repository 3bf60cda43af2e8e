"""MONAI imported without its unused optional extras: the same numbers, and the extras usable after.

Each check runs in a fresh interpreter (the test process has imported MONAI long before).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

from gdgp.monai_import import MONAI_UNUSED_EXTRAS

#: Builds the MONAI parts the methods use, seeded, and prints what they compute.
PROBE = """
import json, sys, torch
from monai.losses import DiceCELoss
from monai.networks.nets import DynUNet, UNet
from monai.networks.layers import AffineTransform, Norm
torch.manual_seed(0)
x = torch.rand(2, 3, 32, 32)
dyn = DynUNet(2, 3, 1, [3, 3, 3], [1, 2, 2], [2, 2], filters=[4, 8, 16]).eval()
unet = UNet(2, 3, 1, channels=(4, 8), strides=(2,), norm=Norm.BATCH).eval()
with torch.no_grad():
    out = dyn(x) + unet(x)
loss = DiceCELoss(sigmoid=True)(out, (x[:, :1] > 0.5).float())
warped = AffineTransform(normalized=True)(x, torch.eye(3)[None, :2].repeat(2, 1, 1))
print(json.dumps({"out": out.sum().item(), "loss": loss.item(), "warp": warped.sum().item(),
                  "loaded": {name: name in sys.modules for name in %r}}))
"""


#: After the probe: the hidden extras import and work as usual.
EXTRAS_WORK = """
assert all(sys.modules.get(name, 0) is not None for name in %r)
import torchvision.ops, matplotlib.pyplot, skimage.morphology, sklearn.metrics, numpy as np
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.5).tolist() == [0, 2]
assert sklearn.metrics.f1_score([0, 1, 1], [0, 1, 0]) == 2 / 3
assert skimage.morphology.binary_dilation(np.eye(3, dtype=bool)).sum() == 7
print("extras ok")
"""


def test_monai_parts_compute_the_same_without_the_extras_and_the_extras_work_after() -> None:
    code = (
        "from gdgp.monai_import import import_monai_without_unused_extras\n"
        "import_monai_without_unused_extras()\n"
        + PROBE % (list(MONAI_UNUSED_EXTRAS),)
        + EXTRAS_WORK % (list(MONAI_UNUSED_EXTRAS),)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    *_, probe_line, extras_line = proc.stdout.strip().splitlines()
    lean = json.loads(probe_line)
    assert not any(lean["loaded"].values()), lean["loaded"]  # MONAI came up without any of them
    assert extras_line == "extras ok"
    plain_out = io.StringIO()  # the same probe in this process, where MONAI was imported the plain way
    with contextlib.redirect_stdout(plain_out):
        exec(PROBE % ([],), {})
    plain = json.loads(plain_out.getvalue())
    for key in ("out", "loss", "warp"):
        assert lean[key] == pytest.approx(plain[key], rel=1e-6, abs=1e-6), key


def test_an_extra_imported_before_is_left_visible_and_a_failed_import_restores_the_names() -> None:
    code = """
import sys
import matplotlib
from gdgp.monai_import import import_monai_without_unused_extras
sys.modules["monai.utils"] = None  # MONAI's own import now fails half-way
try:
    import_monai_without_unused_extras()
except ImportError:
    pass
else:
    raise SystemExit("the broken MONAI import did not raise")
assert sys.modules["matplotlib"] is matplotlib
assert all(sys.modules.get(name, 0) is not None for name in ("torchvision", "skimage", "sklearn"))
import torchvision
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]
