"""`bench run --corruptions` end to end, its identity, and the calibration / robustness pages regenerating byte-identical."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench.cli import main
from bench.measure import corruptions as C
from bench.report import leaderboard as LB
from bench.report import robustness as RB
from bench.store import results as R


def _corrupted(results, corruptions: str):
    """The one result file whose key holds this corruption set (file names carry the key's hash)."""
    (path,) = [
        p
        for p in (results / "samples" / "val").glob("*.json")
        if json.loads(p.read_text())["key"].get("corruptions") == corruptions
    ]
    return path


@pytest.fixture(scope="module")
def corrupted_run(tmp_path_factory):
    """The issue's done-when command (without efficiency, to stay quick): lite0, bundled photos, gaussian_noise:3."""
    results = tmp_path_factory.mktemp("results")
    assert (
        main(
            [
                "run",
                "--models",
                "tf_efficientnet_lite0",
                "--dataset",
                "samples",
                "--corruptions",
                "gaussian_noise:3",
                "--results-dir",
                str(results),
                "--no-efficiency",
                "--no-progress",
            ]
        )
        == 0
    )
    return results


@pytest.mark.slow
def test_result_json_holds_ece_and_the_corruptions_error(corrupted_run):
    path = _corrupted(corrupted_run, "gaussian_noise:3")
    r = json.loads(path.read_text())
    acc = r["accuracy"]
    assert r["key"]["corruptions"] == "gaussian_noise:3"
    assert 0 <= acc["calibration"]["ece"] <= 100 and acc["calibration"]["n_bins"] == 15
    corr = acc["corruptions"]
    assert list(corr["errors"]) == ["gaussian_noise"] and list(corr["errors"]["gaussian_noise"]) == ["3"]
    assert corr["clean_error"] == pytest.approx(100 - acc["restricted"]["top1"])
    samples = R.read_samples(R.read(path))  # the error is what the stored per-sample predictions give
    top1 = samples[C.array_name("gaussian_noise", 3)]
    assert corr["errors"]["gaussian_noise"]["3"] == pytest.approx(100 * np.mean(top1 != samples["target"]))
    assert corr["library"] == f"imagecorruptions-imaug {C.library_version()}" and corr["data_path"] == "cpu"


@pytest.mark.slow
def test_another_corruption_set_is_another_entry(corrupted_run, capsys):
    args = [
        "run",
        "--models",
        "tf_efficientnet_lite0",
        "--dataset",
        "samples",
        "--results-dir",
        str(corrupted_run),
        "--no-efficiency",
        "--no-progress",
    ]
    assert main(args + ["--corruptions", "gaussian_noise:3"]) == 0
    assert "0 written, 1 skipped" in capsys.readouterr().out
    assert main(args + ["--corruptions", "gaussian_noise:2"]) == 0
    assert "1 written, 0 skipped" in capsys.readouterr().out
    assert _corrupted(corrupted_run, "gaussian_noise:2").is_file()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--corruptions", "gausian_noise"], "did you mean gaussian_noise"),
        (["--corruptions", "all", "--no-accuracy"], "drop --no-accuracy"),
    ],
)
def test_bad_corruption_flags_exit_2_with_one_line(flags, message, tmp_path, capsys):
    assert main(["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--results-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def _complete_entry(results, source):
    """A second result with all 15 corruptions (fake per-sample predictions) so the page gets a ranked row and a plot."""
    r = R.read(source)
    samples = R.read_samples(r)
    rng = np.random.default_rng(0)
    for name, sev in C.parse("all"):
        samples[C.array_name(name, sev)] = np.where(rng.random(len(samples["target"])) < 0.5, samples["target"], -1).astype(
            np.int32
        )
    r.key = r.key.replace(corruptions="all")  # another key: another entry beside the gaussian_noise:3 one
    r.accuracy.corruptions = C.summarize(samples, "all", "cpu")
    return R.write(r, samples, results)


@pytest.mark.slow
def test_pages_regenerate_byte_identical(corrupted_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(corrupted_run, results)
    _complete_entry(results, _corrupted(results, "gaussian_noise:3"))
    a, b = tmp_path / "a", tmp_path / "b"
    LB.regenerate(results, a)
    LB.regenerate(results, b)
    files = sorted(p.name for p in a.iterdir())
    assert RB.PAGE in files and RB.PLOT in files
    diagrams = [f for f in files if "-reliability-" in f]
    assert len(diagrams) == 1  # one per leaderboard row: both corruption runs are of lite0's one experiment
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    page = (a / "samples.md").read_text()
    assert "## Calibration" in page and all(f"[diagram]({d})" in page for d in diagrams)
    assert "[robustness.md](robustness.md)" in (a / "README.md").read_text()
    robust = (a / RB.PAGE).read_text()
    ranked = next(line for line in robust.splitlines() if line.startswith("|      1 |"))
    assert "| all " in ranked and "15/15" in ranked
