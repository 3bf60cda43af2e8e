"""Caveats on Table 4 entries that the numbers alone do not show.

* **Contamination**: a pretrained model whose (pre)training data include the public collection a
  dataset comes from may have seen its test images. Each dataset may name its ``source``
  (``datasets.<name>.source``) and each pretrained method declares the collections it was trained
  on (``trained_on``, from its paper or model card; docs/pretrained.md); where they share a name
  (compared case-insensitively) the method's entries on that dataset are marked.
* **Random weights**: a pretrained method run without its weights file
  (``methods.<name>.random_weights``, for tests and CI): its rows are marked, never a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Caveats:
    """What marks Table 4's entries: each dataset's source names, each method's training
    collections and the methods run with random weights."""

    dataset_sources: Mapping[str, Sequence[str]] = field(default_factory=dict)
    trained_on: Mapping[str, Sequence[str]] = field(default_factory=dict)
    random_weights: frozenset[str] = frozenset()

    def overlap(self, dataset: str, method: str) -> list[str]:
        """The source names the method was trained on that the dataset comes from (as the method writes them)."""
        sources = {s.casefold() for s in self.dataset_sources.get(dataset, ())}
        return [s for s in self.trained_on.get(method, ()) if s.casefold() in sources]

    def contaminated(self, dataset: str, method: str) -> bool:
        """Whether the method's entries on the dataset may come from a model that saw its images."""
        return bool(self.overlap(dataset, method))

    def contamination_note(self, pairs: Sequence[tuple[str, str]]) -> str:
        """One line naming each marked (method, dataset) and the shared sources, for the table's notes."""
        marked = [(m, d, self.overlap(d, m)) for d, m in pairs if self.contaminated(d, m)]
        if not marked:
            return ""
        what = "; ".join(f"{m} on {d} ({', '.join(s)})" for m, d, s in marked)
        return (
            "possibly contaminated: the model's training data include the collection this dataset comes from "
            f"(its paper or model card; docs/pretrained.md): {what}."
        )

    def random_note(self, methods: Sequence[str]) -> str:
        """One line naming the methods run with random weights, for the table's notes."""
        shown = [m for m in methods if m in self.random_weights]
        if not shown:
            return ""
        return (
            f"{', '.join(shown)}: random weights, not a result (a pretrained method run without its weights "
            "file, random_weights: true; for tests only)."
        )


def parse_name_lists(items: Sequence[str], flag: str) -> dict[str, list[str]]:
    """``["pancreas=MSD,NIH-Pancreas-CT", ...]`` -> ``{"pancreas": ["MSD", "NIH-Pancreas-CT"]}``.

    Raises:
        ValueError: an item without ``=``, an empty name or value, or a name given twice.
    """
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        names = [v.strip() for v in values.split(",") if v.strip()]
        if not sep or not name or not names:
            raise ValueError(f"{flag} expects NAME=SOURCE[,SOURCE...], got {item!r}")
        if name in out:
            raise ValueError(f"{flag}: {name!r} is given twice")
        out[name] = names
    return out


__all__ = ["Caveats", "parse_name_lists"]
