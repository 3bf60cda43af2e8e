"""The demo task table: MSD task name -> number, labels, description, builder and blur."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gdgp.data.demo import colon, lung, pancreas, spleen
from gdgp.data.demo.canvas import Phantom


@dataclass(frozen=True)
class Task:
    """One demo task: how its phantoms are built and rendered, and how dataset.json describes it."""

    number: int
    short: str
    labels: dict[str, str]
    description: str
    build: Callable[[Phantom], None]
    blur: tuple[float, float]  # in-plane Gaussian blur range (voxels): boundary blurriness


TASKS: dict[str, Task] = {
    "Task91_DemoLung": Task(
        91,
        "lung",
        {"0": "background", "1": "tumour"},
        "Synthetic CT: soft-tissue lung tumour in textured lung among vessels and unlabelled nodules",
        lung.build,
        (0.7, 1.1),
    ),
    "Task92_DemoPancreas": Task(
        92,
        "pancreas",
        {"0": "background", "1": "pancreas", "2": "tumour"},
        "Synthetic CT: low-contrast lobulated pancreas with a hypodense tumour, among bowel and vessels",
        pancreas.build,
        (0.9, 1.4),
    ),
    "Task93_DemoSpleen": Task(
        93,
        "spleen",
        {"0": "background", "1": "spleen"},
        "Synthetic CT: textured spleen with blurry boundary next to liver, kidney and stomach of similar HU",
        spleen.build,
        (1.2, 1.8),
    ),
    "Task94_DemoColon": Task(
        94,
        "colon",
        {"0": "background", "1": "tumour"},
        "Synthetic CT: small irregular low-contrast colon wall tumour among other bowel loops",
        colon.build,
        (0.9, 1.3),
    ),
}

DEMO_TASKS: dict[str, dict] = {
    name: {"labels": dict(t.labels), "description": t.description} for name, t in TASKS.items()
}
