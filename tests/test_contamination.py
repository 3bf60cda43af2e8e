"""Table 4's caveats: entries of a pretrained model trained on the collection a dataset comes from
are marked (contamination), and a pretrained method run with random weights is named so."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from gdgp.cli import main
from gdgp.methods import METHODS
from gdgp.report.caveats import Caveats, parse_name_lists
from tests.test_report import DICE_A, DICE_B, N_BOOT, make_clicks, write_clicks
from tests.test_workflow import TINY, project, shell_lines, snakemake


def markdown_rows(md: str, block: str) -> dict[str, dict[str, str]]:
    """``{row label: {column: cell}}`` of one block (``Dice``, ...) of table4.md."""
    lines = md.splitlines()
    start = lines.index(f"**{block}**") + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    table = lines[start:end]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    rows = {}
    for line in table[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return rows


@pytest.fixture
def two_datasets(tmp_path: Path) -> list[Path]:
    """gdgp (7 clicks first) and dextr (4) on spleen and liver."""
    root = tmp_path / "results"
    return [
        write_clicks(root, make_clicks(dataset, method, dice, n_first=n))
        for dataset in ("spleen", "liver")
        for method, dice, n in (("gdgp", DICE_A, 7), ("dextr", DICE_B, 4))
    ]


def report(clicks: list[Path], out: Path, *caveats: str) -> int:
    args = ["report", "--clicks", *map(str, clicks), "--out-dir", str(out), "--budgets", "4", "8"]
    return main([*args, "--noc-budget", "9", "--n-boot", str(N_BOOT), "--no-figures", *caveats])


def test_report_marks_contaminated_entries_and_random_weights(two_datasets: list[Path], tmp_path: Path) -> None:
    caveats = ["--sources", "spleen=MSD", "liver=LiTS,KiTS19", "--trained-on", "dextr=msd,SA-1B"]
    assert report(two_datasets, tmp_path / "marked", *caveats, "--random-weights", "gdgp") == 0
    assert report(two_datasets, tmp_path / "plain") == 0
    marked = pd.read_csv(tmp_path / "marked" / "table4.csv")
    flagged = {(r.dataset, r.method) for r in marked.itertuples() if r.contaminated}
    assert flagged == {("spleen", "dextr")}  # "msd" matches "MSD"; LiTS and KiTS19 are not dextr's
    assert set(marked.loc[marked["random_weights"], "method"]) == {"gdgp"}
    plain = pd.read_csv(tmp_path / "plain" / "table4.csv")
    assert not plain["contaminated"].any() and not plain["random_weights"].any()
    numbers = [c for c in plain.columns if c not in ("contaminated", "random_weights")]
    pd.testing.assert_frame_equal(marked[numbers], plain[numbers])  # marks never change a number

    md = (tmp_path / "marked" / "table4.md").read_text()
    dice = markdown_rows(md, "Dice")
    assert set(dice) == {"dextr", "gdgp (random weights, not a result)"}
    for column, cell in dice["dextr"].items():
        assert cell.endswith("‡") == column.startswith("spleen"), (column, cell)
    assert not any("‡" in cell for cell in dice["gdgp (random weights, not a result)"].values())
    assert dice["gdgp (random weights, not a result)"]["spleen @4"] == "–"  # 7 clicks first: no entry, no mark
    assert "‡ possibly contaminated: " in md and "dextr on spleen (msd)." in md
    assert "gdgp: random weights, not a result" in md
    assert markdown_rows((tmp_path / "plain" / "table4.md").read_text(), "Dice").keys() == {"dextr", "gdgp"}
    assert "‡" not in (tmp_path / "plain" / "table4.md").read_text()
    tex = (tmp_path / "marked" / "table4.tex").read_text()
    assert r"$^\ddagger$" in tex and r"gdgp (random weights, not a result)" in tex
    assert r"$^\ddagger$" not in (tmp_path / "plain" / "table4.tex").read_text()


def test_pretrained_loss_without_epochs_has_no_curve(two_datasets: list[Path], tmp_path: Path) -> None:
    """A pretrained method's loss.csv has a header and no epoch (gdgp/training/pretrained.py)."""
    loss = tmp_path / "models" / "spleen" / "dextr" / "loss.csv"
    loss.parent.mkdir(parents=True)
    loss.write_text("epoch,loss,lr,seconds\n")
    assert report(two_datasets, tmp_path / "out", "--losses", str(loss)) == 0
    assert pd.read_csv(tmp_path / "out" / "loss_curves.csv").empty


def test_caveats_compare_names_case_insensitively() -> None:
    caveats = Caveats({"pancreas": ["NIH-Pancreas-CT", "MSD"]}, {"sam": ["SA-1B"], "medsam": ["msd", "TCIA"]})
    assert caveats.overlap("pancreas", "medsam") == ["msd"] and not caveats.contaminated("pancreas", "sam")
    assert not caveats.contaminated("liver", "medsam")  # a dataset without a source is never marked


@pytest.mark.parametrize(
    ("items", "message"),
    [(["spleen"], "NAME=SOURCE"), (["spleen="], "NAME=SOURCE"), (["=MSD"], "NAME=SOURCE"), (["a=X", "a=Y"], "twice")],
)
def test_bad_name_lists_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_name_lists(items, "--sources")


def test_bad_sources_option_fails_the_report(two_datasets: list[Path], tmp_path: Path) -> None:
    assert report(two_datasets, tmp_path / "out", "--sources", "spleen") == 1
    assert not (tmp_path / "out" / "table4.csv").exists()


@pytest.mark.slow
def test_workflow_passes_the_dataset_sources_to_both_reports(tmp_path: Path) -> None:
    cfg = yaml.safe_load(TINY.read_text())
    cfg["datasets"]["tiny_spleen"]["source"] = ["MSD", "BTCV"]
    work = project(tmp_path, cfg)
    out = snakemake(["-n", "-p", "--forceall", "results/report/table4.csv", "results/report/val/table4.csv"], work)
    lines = shell_lines(out.stdout, "report")
    assert len(lines) == 2 and all("--sources tiny_spleen=MSD,BTCV " in line for line in lines)
    assert not any("--trained-on" in line or "--random-weights" in line for line in lines)  # no pretrained method
    cfg["datasets"]["tiny_spleen"]["source"] = "NIH Pancreas"  # a space: not a source name
    proc = snakemake(["-n", "results/report/table4.csv"], project(tmp_path / "bad", cfg), check=False)
    assert proc.returncode != 0 and "source" in proc.stdout + proc.stderr


def test_docs_table_matches_the_pretrained_builtins() -> None:
    """docs/pretrained.md's table of what each pretrained method declares is its class's trained_on."""
    text = (Path(__file__).parents[1] / "docs" / "pretrained.md").read_text()
    section = text.split("### What the pretrained methods declare", 1)[1]
    rows = {
        cells[0].strip("`"): [n.strip() for n in cells[1].split(",")]
        for cells in ([c.strip() for c in line.strip("|").split("|")] for line in section.splitlines())
        if len(cells) >= 3 and cells[0].startswith("`")
    }
    assert rows  # the table parsed
    for name, cls in METHODS.items():
        if cls.pretrained:
            assert rows.get(name) == list(cls.trained_on), f"docs/pretrained.md: {name} declares {cls.trained_on}"
