"""Atomic writes: the final name holds either the old or the complete new content, never a partial file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gdgp.atomic import atomic_path, write_text_atomic


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.csv"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a tab")
        assert tmp.suffix == ".csv" and tmp.parent == target.parent
        raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_success_replaces_and_keeps_suffixes(tmp_path: Path) -> None:
    target = tmp_path / "x.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["x.nii.gz"]
