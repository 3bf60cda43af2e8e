"""Report stage: table numbers checked against independent brute-force computations.

Synthetic clicks/loss/overlay files are built here by hand, so every expected value is
computed directly from the arrays that went in, not from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gdgp.errors import ConfigError, InputDataError
from gdgp.extract import SKIPPED_COLUMNS
from gdgp.report import build_report
from gdgp.report import tables
from gdgp.report.build import identify

# Hand-chosen Dice, rows = slices (slice_id 10, 11, 12), columns = rounds 0..3.
DICE_A = np.array([
    [0.70, 0.86, 0.91, 0.95],
    [0.80, 0.84, 0.88, 0.93],
    [0.50, 0.60, 0.70, 0.80],   # never reaches 0.85
])
DICE_B = np.array([
    [0.60, 0.70, 0.80, 0.90],
    [0.90, 0.92, 0.93, 0.94],   # reaches both at round 0
    [0.00, 0.40, 0.50, 0.86],   # empty prediction at round 0
])
SLICES = np.array([10, 11, 12])


def make_clicks(dataset: str, method: str, dice: np.ndarray, slice_ids=SLICES, n_first: int = 3,
                automatic: bool = False, seed: int = 0) -> pd.DataFrame:
    """A clicks.csv table with every required column; ASSD derived from Dice so it varies."""
    rng = np.random.default_rng(seed)
    rows = []
    for s, sid in enumerate(slice_ids):
        for r in range(dice.shape[1]):
            d = float(dice[s, r])
            empty = d == 0.0
            rows.append({
                "dataset": dataset, "method": method, "slice_id": int(sid), "case": f"case_{sid // 10:03d}",
                "slice_z": int(sid) * 2, "round": r, "n_clicks": 0 if automatic else n_first + r,
                "click_y": np.nan if r == 0 or automatic else float(rng.integers(0, 64)),
                "click_x": np.nan if r == 0 or automatic else float(rng.integers(0, 64)),
                "click_positive": np.nan if r == 0 or automatic else float(rng.integers(0, 2)),
                "dice": d, "assd_px": 90.5 if empty else round(10 * (1 - d) + 0.1 * s, 4),
                "assd_mm": 60.0 if empty else round(7 * (1 - d) + 0.05 * s, 4),
                "tp": int(100 * d), "fp": 5, "fn": int(100 * (1 - d)), "empty_pred": empty,
            })
    return pd.DataFrame(rows)


def write_clicks(root: Path, df: pd.DataFrame, shuffle_seed: int | None = None) -> Path:
    dataset, method = df["dataset"].iloc[0], df["method"].iloc[0]
    path = root / dataset / method / "clicks.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if shuffle_seed is not None:
        df = df.sample(frac=1.0, random_state=shuffle_seed)
    df.to_csv(path, index=False)
    return path


def write_loss(root: Path, dataset: str, method: str, epochs: int = 12, scale: float = 1.0,
               extra: bool = False) -> Path:
    path = root / dataset / method / "loss.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    e = np.arange(1, epochs + 1)
    df = pd.DataFrame({"epoch": e, "loss": scale * 2.0 * np.exp(-0.4 * e) + 0.05, "lr": 1e-4 * 0.5 ** (e // 5),
                       "seconds": 1.5 + 0.01 * e})
    if extra:
        df["val_dice"] = 1 - np.exp(-0.3 * e)
        df["note"] = "text"
    df.to_csv(path, index=False)
    return path


def _disk(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2).astype(np.uint8)


def write_overlays(root: Path, dataset: str, method: str, quality: float, k: int = 3, size: int = 64,
                   rounds=(0, 2), seed: int = 1) -> Path:
    """Phantom slices (bright disk on noisy texture), a shifted-disk prediction, a few clicks."""
    rng = np.random.default_rng(seed)
    images, gts, preds, clicks = [], [], [], []
    for i in range(k):
        cy, cx, r = 30 + 3 * i, 32 - 2 * i, 12 + i
        gt = _disk(size, size, cy, cx, r)
        img = np.clip(0.3 + 0.4 * gt + 0.08 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)
        per_round = []
        for j, _ in enumerate(rounds):
            shift = (1 - quality) * 8 / (j + 1)
            per_round.append(_disk(size, size, cy + shift, cx - shift, r * (0.8 + 0.2 * quality)))
        images.append(img)
        gts.append(gt)
        preds.append(np.stack(per_round))
        clicks += [(i, cy, cx, True, 0), (i, cy - r + 1, cx, True, 0), (i, cy + r + 3, cx, False, 1),
                   (i, cy, cx + r - 1, True, 2), (i, cy - r - 3, cx - r, False, 3)]
    c = np.array(clicks, dtype=np.int64)
    path = root / dataset / method / "overlays.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path, image=np.stack(images), gt=np.stack(gts), pred=np.stack(preds).astype(np.uint8),
        rounds=np.array(rounds, dtype=np.int64), slice_id=SLICES[:k].astype(np.int64),
        click_slice=c[:, 0], click_y=c[:, 1], click_x=c[:, 2], click_positive=c[:, 3].astype(bool),
        click_round=c[:, 4])
    return path


@pytest.fixture()
def two_methods(tmp_path: Path) -> list[Path]:
    root = tmp_path / "results"
    return [write_clicks(root, make_clicks("spleen", "gdgp", DICE_A), shuffle_seed=3),
            write_clicks(root, make_clicks("spleen", "dextr", DICE_B))]


def _at(df: pd.DataFrame, method: str, col: str = "method") -> pd.Series:
    return df.loc[df[col] == method].iloc[0]


# --------------------------------------------------------------------------- Table 4


def test_table4_mean_std_equal_numpy(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out", table_round=2)
    t = pd.read_csv(tmp_path / "out" / "table4.csv")
    assert list(t.columns[:11]) == ["dataset", "method", "round", "n_slices", "dice_mean", "dice_std",
                                    "assd_px_mean", "assd_px_std", "assd_mm_mean", "assd_mm_std", "n_empty_pred"]
    for method, dice in (("gdgp", DICE_A), ("dextr", DICE_B)):
        row = _at(t, method)
        assert row["round"] == 2 and row["n_slices"] == 3 and not row["clipped"]
        assert row["dice_mean"] == pytest.approx(np.mean(dice[:, 2]))
        assert row["dice_std"] == pytest.approx(np.std(dice[:, 2], ddof=1))
        raw = make_clicks("spleen", method, dice)
        assd = raw.loc[raw["round"] == 2, "assd_px"].to_numpy()
        assert row["assd_px_mean"] == pytest.approx(assd.mean())
        assert row["assd_px_std"] == pytest.approx(np.std(assd, ddof=1))


def test_table_round_beyond_n_clips_to_last_round(tmp_path: Path) -> None:
    root = tmp_path / "r"
    paths = [write_clicks(root, make_clicks("spleen", "gdgp", DICE_A)),
             write_clicks(root, make_clicks("spleen", "short", DICE_B[:, :2]))]  # N = 1
    metrics = build_report(paths, [], [], tmp_path / "out", table_round=3)
    t = pd.read_csv(tmp_path / "out" / "table4.csv")
    short, full = _at(t, "short"), _at(t, "gdgp")
    assert short["round"] == 1 and short["clipped"] and short["requested_round"] == 3
    assert short["dice_mean"] == pytest.approx(DICE_B[:, 1].mean())
    assert full["round"] == 3 and not full["clipped"]
    assert metrics["spleen"]["short"]["dice"] == pytest.approx(round(DICE_B[:, 1].mean(), 4))
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "†" in md and "short on spleen" in md and "round 1 instead of 3" in md
    assert r"$^\dagger$" in (tmp_path / "out" / "table4.tex").read_text()


def test_markdown_and_latex_mark_best_in_bold(tmp_path: Path) -> None:
    root = tmp_path / "r"
    paths = [write_clicks(root, make_clicks("my_data", "gdgp", DICE_A)),
             write_clicks(root, make_clicks("my_data", "fg_bg", DICE_B))]
    build_report(paths, [], [], tmp_path / "out", table_round=3, method_order=["gdgp", "nonexistent"])
    md = (tmp_path / "out" / "table4.md").read_text()
    # round 3: gdgp mean 0.8933 vs fg_bg 0.9000 -> fg_bg best Dice
    best = tables.format_mean_std(DICE_B[:, 3].mean(), np.std(DICE_B[:, 3], ddof=1))
    other = tables.format_mean_std(DICE_A[:, 3].mean(), np.std(DICE_A[:, 3], ddof=1))
    assert f"**{best}**" in md and f"**{other}**" not in md and other in md
    assert best.count(" ± ") == 1
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert lines[2].startswith("| gdgp") and lines[3].startswith("| fg_bg")  # method_order, then the rest
    tex = (tmp_path / "out" / "table4.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"my\_data" in tex and r"fg\_bg" in tex
    assert r"\textbf{" + best.replace(" ± ", r" $\pm$ ") + "}" in tex
    assert "_" not in tex.replace(r"\_", "").split("\n", 1)[1]  # no unescaped underscore after the comment


def test_format_mean_std() -> None:
    assert tables.format_mean_std(0.91234, 0.03149) == "0.912 ± 0.031"
    assert tables.format_mean_std(0.9, float("nan")) == "0.900"
    assert tables.format_mean_std(float("nan"), 0.1) == "–"


# --------------------------------------------------------------------------- NoC


def brute_noc(dice: np.ndarray, n_clicks: np.ndarray, t: float) -> tuple[float, int]:
    total, fails = 0, 0
    for s in range(dice.shape[0]):
        for r in range(dice.shape[1]):
            if dice[s, r] >= t:
                total += n_clicks[r]
                break
        else:
            total += max(n_clicks[-1], dice.shape[1] - 1)  # the click budget: at least the rounds offered
            fails += 1
    return total / dice.shape[0], fails


def test_noc_equals_hand_loop(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(two_methods, [], [], tmp_path / "out")
    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    assert {"noc_85", "nof_85", "noc_90", "nof_90"} <= set(noc.columns)
    n_clicks = 3 + np.arange(4)
    for method, dice in (("gdgp", DICE_A), ("dextr", DICE_B)):
        row = _at(noc, method)
        for t in (0.85, 0.90):
            mean, fails = brute_noc(dice, n_clicks, t)
            assert row[f"noc_{round(100 * t)}"] == pytest.approx(mean)
            assert row[f"nof_{round(100 * t)}"] == fails
            assert metrics["spleen"][method][f"noc{round(100 * t)}"] == pytest.approx(round(mean, 4))
    # explicit: gdgp@85 -> slice 10 reaches at round 1 (4 clicks), slice 11 at round 2 (5 clicks),
    # slice 12 never -> its last count 6 and one failure
    assert _at(noc, "gdgp")["noc_85"] == pytest.approx((4 + 5 + 6) / 3)
    assert _at(noc, "gdgp")["nof_85"] == 1
    assert (tmp_path / "out" / "noc.md").read_text().count("|") > 10


def test_noc_custom_thresholds_names(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(two_methods, [], [], tmp_path / "out", noc_thresholds=(0.8,))
    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    assert list(noc.columns) == ["dataset", "method", "n_slices", "noc_80", "nof_80"]
    assert set(metrics["spleen"]["gdgp"]) == {"dice", "assd_px", "assd_mm", "noc80"}
    with pytest.raises(ConfigError):
        build_report(two_methods, [], [], tmp_path / "bad", noc_thresholds=(0.9, 0.901))


# --------------------------------------------------------------------------- per-click curve


def test_dice_per_click_csv_matches_numpy(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out")
    c = pd.read_csv(tmp_path / "out" / "dice_per_click.csv")
    assert list(c.columns) == ["dataset", "method", "round", "dice_mean", "dice_std", "dice_sem", "n"]
    for method, dice in (("gdgp", DICE_A), ("dextr", DICE_B)):
        m = c.loc[c["method"] == method].sort_values("round")
        assert m["round"].tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(m["dice_mean"], dice.mean(axis=0))
        np.testing.assert_allclose(m["dice_std"], dice.std(axis=0, ddof=1))
        np.testing.assert_allclose(m["dice_sem"], dice.std(axis=0, ddof=1) / np.sqrt(3))
        assert (m["n"] == 3).all()


# --------------------------------------------------------------------------- significance


def test_wilcoxon_matches_scipy_paired_by_slice_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    sids = np.arange(100, 112)
    ref = rng.uniform(0.6, 0.95, size=(12, 3))
    other = np.clip(ref - rng.normal(0.03, 0.05, size=ref.shape), 0.01, 1)
    root = tmp_path / "r"
    # the other method's rows are shuffled AND listed in reverse slice order
    paths = [write_clicks(root, make_clicks("lung", "gdgp", ref, slice_ids=sids)),
             write_clicks(root, make_clicks("lung", "midseg", other[::-1], slice_ids=sids[::-1]), shuffle_seed=5),
             write_clicks(root, make_clicks("lung", "same", ref, slice_ids=sids))]
    build_report(paths, [], [], tmp_path / "out", table_round=2, reference_method="gdgp")
    every_round = pd.read_csv(tmp_path / "out" / "significance.csv")
    assert list(every_round.columns[:8]) == ["dataset", "method", "reference", "round", "n", "mean_diff",
                                             "statistic", "p_value"]
    assert sorted(set(every_round["round"])) == [0, 2]  # the first interaction and the table round
    first = _at(every_round[every_round["round"] == 0], "midseg")
    assert first["p_value"] == pytest.approx(stats.wilcoxon(ref[:, 0], other[:, 0]).pvalue)
    sig = every_round[every_round["round"] == 2]
    row = _at(sig, "midseg")
    expected = stats.wilcoxon(ref[:, 2], other[:, 2])
    assert row["n"] == 12 and row["reference"] == "gdgp"
    assert row["p_value"] == pytest.approx(expected.pvalue)
    assert row["statistic"] == pytest.approx(expected.statistic)
    assert row["mean_diff"] == pytest.approx(np.mean(ref[:, 2] - other[:, 2]))
    # pairing by row order instead would give another answer, so the check above is meaningful
    assert stats.wilcoxon(ref[:, 2], other[::-1, 2]).pvalue != pytest.approx(expected.pvalue)
    same = _at(sig, "same")  # identical Dice: every difference zero -> p = 1, no crash
    assert same["p_value"] == 1.0 and same["mean_diff"] == 0.0
    assert "gdgp" not in set(sig["method"])


def test_significance_header_only_without_reference(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out")
    sig = pd.read_csv(tmp_path / "out" / "significance.csv")
    assert sig.empty and "p_value" in sig.columns
    build_report(two_methods, [], [], tmp_path / "out2", reference_method="absent")
    assert pd.read_csv(tmp_path / "out2" / "significance.csv").empty


def test_holm_against_hand_values() -> None:
    # sorted p: 0.01 (x3 = 0.03), 0.02 (x2 = 0.04), 0.04 (x1 = 0.04); NaN untouched
    out = tables.holm([0.04, 0.01, float("nan"), 0.02])
    assert out[0] == pytest.approx(0.04) and out[1] == pytest.approx(0.03)
    assert np.isnan(out[2]) and out[3] == pytest.approx(0.04)


# --------------------------------------------------------------------------- empty predictions, metrics


def test_empty_predictions_counted(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out", table_round=0)
    e = pd.read_csv(tmp_path / "out" / "empty_predictions.csv")
    assert list(e.columns) == ["dataset", "method", "n_rows_empty_pred", "n_slices_empty_at_table_round"]
    assert _at(e, "dextr")["n_rows_empty_pred"] == 1 and _at(e, "dextr")["n_slices_empty_at_table_round"] == 1
    assert _at(e, "gdgp")["n_rows_empty_pred"] == 0
    assert _at(pd.read_csv(tmp_path / "out" / "table4.csv"), "dextr")["n_empty_pred"] == 1


def test_metrics_json_round_trips(two_methods: list[Path], tmp_path: Path) -> None:
    metrics = build_report(two_methods, [], [], tmp_path / "out", table_round=1)
    text = (tmp_path / "out" / "metrics.json").read_text()
    loaded = json.loads(text)
    assert loaded == metrics
    assert list(loaded) == ["spleen"] and sorted(loaded["spleen"]) == ["dextr", "gdgp"]
    assert set(loaded["spleen"]["gdgp"]) == {"dice", "assd_px", "assd_mm", "noc85", "noc90"}
    assert loaded["spleen"]["gdgp"]["dice"] == round(float(DICE_A[:, 1].mean()), 4)
    assert text.index('"dextr"') < text.index('"gdgp"')  # sorted keys
    assert json.dumps(loaded, sort_keys=True, indent=2) + "\n" == text


def test_multiple_datasets_and_automatic_method(tmp_path: Path) -> None:
    root = tmp_path / "r"
    flat = np.repeat(DICE_B[:, :1], 4, axis=1)
    paths = [write_clicks(root, make_clicks("spleen", "gdgp", DICE_A)),
             write_clicks(root, make_clicks("colon", "gdgp", DICE_B)),
             write_clicks(root, make_clicks("colon", "unet", flat, automatic=True))]
    m = build_report(paths, [], [], tmp_path / "out")
    assert set(m) == {"spleen", "colon"} and set(m["colon"]) == {"gdgp", "unet"}
    noc = pd.read_csv(tmp_path / "out" / "noc.csv")
    assert noc.loc[noc["method"] == "unet", "nof_85"].item() == 2
    # an automatic method never clicks: reaching t at round 0 costs 0, failing costs the 3 rounds offered
    assert m["colon"]["unet"]["noc85"] == pytest.approx(2 * 3 / DICE_B.shape[0])
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "–" in md  # unet has no spleen entry
    assert (tmp_path / "out" / "dice_per_click_colon.png").is_file()
    assert (tmp_path / "out" / "dice_per_click_spleen.png").is_file()


# --------------------------------------------------------------------------- validation


def test_missing_column_raises_naming_file(two_methods: list[Path], tmp_path: Path) -> None:
    df = pd.read_csv(two_methods[1]).drop(columns=["assd_mm"])
    df.to_csv(two_methods[1], index=False)
    with pytest.raises(InputDataError, match="assd_mm") as err:
        build_report(two_methods, [], [], tmp_path / "out")
    assert str(two_methods[1]) in str(err.value)


def test_empty_csv_raises_naming_file(two_methods: list[Path], tmp_path: Path) -> None:
    header_only = tmp_path / "header_only.csv"
    header_only.write_text(",".join(tables.CLICKS_COLUMNS) + "\n")
    with pytest.raises(InputDataError, match="header_only.csv"):
        build_report([two_methods[0], header_only], [], [], tmp_path / "out")
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(InputDataError, match="blank.csv"):
        build_report([blank], [], [], tmp_path / "out")


def test_duplicate_dataset_method_raises(two_methods: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy" / "clicks.csv"
    copy.parent.mkdir()
    copy.write_text(two_methods[0].read_text())
    with pytest.raises(InputDataError, match="appears in both"):
        build_report([*two_methods, copy], [], [], tmp_path / "out")
    loss = write_loss(tmp_path / "results", "spleen", "gdgp")
    with pytest.raises(InputDataError, match="appears in both"):
        build_report(two_methods, [loss, loss], [], tmp_path / "out")


def test_incomplete_rounds_raise(two_methods: list[Path], tmp_path: Path) -> None:
    df = pd.read_csv(two_methods[0])
    df = df.drop(df.index[(df["slice_id"] == 11) & (df["round"] == 3)])
    df.to_csv(two_methods[0], index=False)
    with pytest.raises(InputDataError, match="every round"):
        build_report(two_methods, [], [], tmp_path / "out")


def test_missing_loss_column_and_bad_overlay_raise(two_methods: list[Path], tmp_path: Path) -> None:
    loss = write_loss(tmp_path / "results", "spleen", "gdgp")
    pd.read_csv(loss).drop(columns=["lr"]).to_csv(loss, index=False)
    with pytest.raises(InputDataError, match="lr") as err:
        build_report(two_methods, [loss], [], tmp_path / "out")
    assert str(loss) in str(err.value)
    bad = tmp_path / "results" / "spleen" / "gdgp" / "overlays.npz"
    np.savez(bad, image=np.zeros((2, 8, 8)))
    with pytest.raises(InputDataError, match="overlays.npz"):
        build_report(two_methods, [], [bad], tmp_path / "out")


def test_identify_by_path() -> None:
    known = [("spleen", "gdgp"), ("spleen", "dextr"), ("lung", "gdgp")]
    assert identify(Path("results/spleen/gdgp/loss.csv"), known) == ("spleen", "gdgp")
    assert identify(Path("results/lung/train/gdgp/loss.csv"), known) == ("lung", "gdgp")
    assert identify(Path("results/spleen/dextr.npz"), known) == ("spleen", "dextr")
    with pytest.raises(InputDataError, match="cannot tell"):
        identify(Path("results/colon/gdgp/loss.csv"), known)


# --------------------------------------------------------------------------- figures


def _assert_png(path: Path) -> None:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    assert float(img[..., :3].std()) > 0.02


def test_figures_written_and_non_trivial(two_methods: list[Path], tmp_path: Path) -> None:
    root = tmp_path / "results"
    losses = [write_loss(root, "spleen", "gdgp", extra=True), write_loss(root, "spleen", "dextr", scale=3.0)]
    overlays = [write_overlays(root, "spleen", "gdgp", 0.9), write_overlays(root, "spleen", "dextr", 0.5)]
    out = tmp_path / "out"
    build_report(two_methods, losses, overlays, out, table_round=1, reference_method="gdgp")
    for name in ("dice_per_click_spleen.png", "loss_curves.png", "overlays_spleen.png"):
        _assert_png(out / name)
    lc = pd.read_csv(out / "loss_curves.csv")
    assert "val_dice" in lc.columns and "note" not in lc.columns  # numeric extras kept
    assert set(lc["method"]) == {"gdgp", "dextr"} and len(lc) == 24
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_missing_loss_and_overlays_skip_only_those_figures(two_methods: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_report(two_methods, [], [], out)
    assert not (out / "loss_curves.png").exists() and not list(out.glob("overlays_*.png"))
    for name in ("table4.csv", "table4.md", "table4.tex", "noc.csv", "noc.md", "dice_per_click.csv",
                 "dice_per_click_spleen.png", "significance.csv", "empty_predictions.csv", "metrics.json"):
        assert (out / name).is_file(), name


# --------------------------------------------------------------------------- skipped cases


def _skipped_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=SKIPPED_COLUMNS).to_csv(path, index=False)
    return path


def test_skipped_cases_are_listed_once_in_csv_and_under_table4(two_methods: list[Path], tmp_path: Path) -> None:
    bad = {"task": "Task09_Spleen", "case": "spleen_7", "image": "i.nii.gz", "label": "l.nii.gz",
           "reason": "l.nii.gz: cannot read NIfTI (EOFError)"}
    # two datasets of the same task list the same case: reported once
    paths = [_skipped_csv(tmp_path / "s" / name / "skipped.csv", [bad]) for name in ("a", "b")]
    paths.append(_skipped_csv(tmp_path / "s" / "c" / "skipped.csv", []))
    build_report(two_methods, [], [], tmp_path / "out", table_round=1, skipped_csvs=paths)
    listed = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert listed.to_dict("records") == [bad]
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "1 case(s) skipped" in md and "Task09_Spleen / spleen_7: l.nii.gz: cannot read NIfTI" in md


def test_no_skipped_case_gives_header_only_csv_and_no_note(two_methods: list[Path], tmp_path: Path) -> None:
    build_report(two_methods, [], [], tmp_path / "out", table_round=1,
                 skipped_csvs=[_skipped_csv(tmp_path / "s.csv", [])])
    assert pd.read_csv(tmp_path / "out" / "skipped.csv").empty
    assert "skipped" not in (tmp_path / "out" / "table4.md").read_text()
    with pytest.raises(InputDataError, match="s2.csv"):
        (tmp_path / "s2.csv").write_text("task,case\nT,c\n")  # reason etc. missing
        build_report(two_methods, [], [], tmp_path / "out2", table_round=1, skipped_csvs=[tmp_path / "s2.csv"])
