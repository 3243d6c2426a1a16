"""Every input a user can get wrong: exit 2, one line that names the fix, no traceback, nothing written.

The cases of issue 13 ("Bad input accepted, or crashing"), each through `bench.cli.main` as a user
runs it, plus the declared RunConfig flags that the `run` parser is generated from.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import fixtures as F
import pytest

from bench import cli
from bench.cli import main
from bench.config import Flag, RunConfig, at_least, flag, integer
from bench.data import datasets as D
from bench.errors import BenchError, ConfigError, ResultsError
from bench.report import regress as G

GOLDEN_RESULTS = Path(__file__).parent / "golden" / "results"
RUN = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--no-efficiency", "--no-progress"]


def refused(capsys, argv: list[str]) -> str:
    """Run `bench ARGV`; it must exit 2 with exactly one line on stderr and nothing on stdout. Returns that line."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), err
    assert "Traceback" not in err and out == ""
    return lines[0]


# --- accepted with exit 0 before ---------------------------------------------------------------------


def test_std_of_zeros_is_refused(capsys, tmp_path):
    line = refused(capsys, RUN + ["--results-dir", str(tmp_path), "--std", "0,0,0"])
    assert (
        line
        == "bench: error: --std 0,0,0: each value divides the pixels, so it must be a positive number, e.g. 0.229,0.224,0.225"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["5", "-1", "0", "nan", "inf", "1.01", "1e-300"])
def test_crop_pct_outside_zero_one_is_refused(capsys, tmp_path, value):
    line = refused(capsys, RUN + ["--results-dir", str(tmp_path), "--crop-pct", value])
    assert (
        line
        == f"bench: error: --crop-pct {value}: use a fraction in [0.01, 1], e.g. 0.875 (a 224 crop of the image resized to 256)"
    )
    assert not any(tmp_path.iterdir())  # -1 used to write a result with n=0


def test_crop_pct_of_one_is_accepted():
    assert RunConfig(models=["alexnet"], transform_overrides={"crop_pct": 1.0}).transform_overrides == {"crop_pct": 1.0}


def test_label_space_file_of_junk_lines_is_refused(capsys, tmp_path):
    junk = tmp_path / "classes.txt"
    junk.write_text("hello world\nfoo\n")
    line = refused(capsys, RUN + ["--results-dir", str(tmp_path / "r"), "--label-space", str(junk)])
    assert line == (
        f"bench: error: --label-space {junk}: label space file {junk} line 1: 'hello world' is not a WordNet id: "
        "list one wnid per line, like n01440764 (a tab and a name may follow)"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n")
    assert "lists no wnids" in refused(capsys, RUN + ["--label-space", str(empty)])


def test_label_space_file_of_wnids_is_accepted(tmp_path):
    good = tmp_path / "two.txt"
    good.write_text("n01440764\nn01443537\tgoldfish\n")
    assert RunConfig(models=["alexnet"], label_space=str(good)).label_space == str(good)


# --- raw errors and tracebacks before ------------------------------------------------------------------


def test_device_mps_without_mps_exits_2(capsys, tmp_path):
    import torch

    if torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    line = refused(capsys, RUN + ["--results-dir", str(tmp_path), "--device", "mps"])
    assert line == "bench: error: --device mps but MPS is not available here: use --device cpu or auto"


def test_device_that_is_no_device_is_refused(capsys):
    assert refused(capsys, RUN + ["--device", "gpu"]) == "bench: error: --device gpu: use one of auto, cpu, cuda, mps (or cuda:N)"


def test_data_dir_that_is_a_file_is_refused(capsys, tmp_path):
    f = tmp_path / "images.tar"
    f.write_bytes(b"not a folder")
    line = refused(capsys, ["run", "--models", "alexnet", "--dataset", "imagenet-1k", "--data-dir", str(f)])
    assert line.startswith(
        f"bench: error: --data-dir {f} is a file, not a folder: pass the folder that holds your imagenet-1k copy ("
    )


def test_junk_line_in_val_annotations_names_the_line(capsys, tmp_path, tiny_items):
    base = F.write_stanford(tmp_path, tiny_items)
    ann = base / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "this line has no tab\n")
    line = refused(
        capsys,
        RUN[:3]
        + ["--dataset", "tiny-imagenet", "--data-dir", str(tmp_path), "--no-efficiency", "--results-dir", str(tmp_path / "r")],
    )
    assert line == (
        f"bench: error: {ann} line 5: expected 'FILE<TAB>WNID<TAB>box', got 'this line has no tab': fix or remove that line"
    )


# --- wrong messages before ---------------------------------------------------------------------------


def test_weights_given_a_directory_says_so(capsys, tmp_path):
    line = refused(capsys, RUN + ["--weights", str(tmp_path)])
    assert (
        line == f"bench: error: --weights {tmp_path}: is a directory, pass a file (.pth/.pt/.safetensors), pretrained or random"
    )
    line = refused(capsys, RUN + ["--weights", str(tmp_path / "missing.pth")])
    assert line.endswith("missing.pth: no such file: pass pretrained, random or a checkpoint file (.pth/.pt/.safetensors)")


def test_missing_label_space_file_says_no_such_file(capsys, tmp_path):
    missing = tmp_path / "classes.txt"
    line = refused(capsys, RUN + ["--label-space", str(missing)])
    assert line == (
        f"bench: error: --label-space {missing}: no such file: pass a file with one wnid per line, "
        "or a name (imagenet-1k, tiny-imagenet, ...)"
    )
    assert "unknown label space 'tiny-imagnet'" in refused(capsys, RUN + ["--label-space", "tiny-imagnet"])  # a name: the names


# --- gates that passed on nothing --------------------------------------------------------------------


def test_leaderboard_on_a_missing_results_dir_exits_2_and_keeps_the_index(capsys, tmp_path):
    out = tmp_path / "leaderboards"
    out.mkdir()
    (out / "README.md").write_text("the committed index")
    line = refused(capsys, ["leaderboard", "--results-dir", str(tmp_path / "reslts"), "--out", str(out)])
    assert (
        line
        == f"bench: error: --results-dir {tmp_path / 'reslts'} does not exist: pass the folder `bench run --results-dir` wrote to"
    )
    (tmp_path / "empty").mkdir()
    assert "holds no results" in refused(capsys, ["leaderboard", "--results-dir", str(tmp_path / "empty"), "--out", str(out)])
    assert (out / "README.md").read_text() == "the committed index" and [p.name for p in out.iterdir()] == ["README.md"]


def test_check_with_a_baseline_of_no_entries_exits_2(capsys, tmp_path):
    baseline = tmp_path / "empty.json"
    baseline.write_text(json.dumps({"baseline_schema_version": G.BASELINE_SCHEMA_VERSION, "entries": []}))
    line = refused(capsys, ["check", "--baseline", str(baseline), "--results-dir", str(GOLDEN_RESULTS)])
    assert line == (
        f"bench: error: baseline {baseline} has no entries: regenerate it with "
        f"`bench check --update --baseline {baseline}` from results you trust"
    )


def test_check_on_a_missing_results_dir_exits_2(capsys, tmp_path):
    line = refused(capsys, ["check", "--baseline", "baselines/offline.json", "--results-dir", str(tmp_path / "typo")])
    assert "does not exist" in line


def test_store_errors_exit_2_not_the_worse_code(capsys, tmp_path):
    assert ResultsError("x").exit_code == 2 and BenchError("x").exit_code == 1
    baseline = tmp_path / "baseline.json"
    assert main(["check", "--update", "--baseline", str(baseline), "--results-dir", str(GOLDEN_RESULTS)]) == 0
    capsys.readouterr()
    broken = tmp_path / "results" / "samples" / "val"
    broken.mkdir(parents=True)
    (broken / "timm-x__pretrained__model.json").write_text('{"truncated": ')
    line = refused(capsys, ["check", "--baseline", str(baseline), "--results-dir", str(tmp_path / "results")])
    assert "cannot read result" in line


# --- the other numeric flags -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--limit", "0"], "--limit 0: must be a whole number of at least 1"),
        (["--limit", "ten"], "--limit ten: expected a whole number"),
        (["--limit", "2.5"], "--limit 2.5: expected a whole number"),
        (["--batch-size", "0"], "--batch-size 0: must be a whole number of at least 1"),
        (["--workers", "-1"], "--workers -1: must be a whole number of at least 0"),
        (["--mean", "1,2"], "--mean 1,2: expected 3 comma-separated numbers, e.g. 0.485,0.456,0.406"),
        (["--mean", "nan,0,0"], "--mean nan,0,0: expected 3 finite numbers, e.g. 0.485,0.456,0.406"),
        (["--dataset", "imagenet-2k"], "--dataset imagenet-2k: use one of " + ", ".join(D.KNOWN)),
        (["--precision", "fp8"], "--precision fp8: use one of fp32, fp16, bf16"),
        (["--models", ","], "--models ,: no models given: pass NAME[,NAME...] (see `bench list`)"),
        (["--split", "test2"], "samples has no split 'test2': use one of val"),
        (["--no-accuracy", "--no-efficiency"], "--no-accuracy and --no-efficiency together leave nothing to measure"),
    ],
)
def test_run_flags_are_checked_before_any_work(capsys, argv, message):
    assert refused(capsys, RUN[:3] + ["--dataset", "samples"] + argv) == f"bench: error: {message}"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--tolerance", "-1"], "--tolerance -1: must be a finite number of at least 0"),
        (["--tolerance", "nan"], "--tolerance nan: must be a finite number of at least 0"),
        (["--nll-tolerance", "x"], "--nll-tolerance x: expected a number"),
    ],
)
def test_check_flags_are_checked(capsys, argv, message):
    assert refused(capsys, ["check", "--baseline", "baselines/offline.json"] + argv) == f"bench: error: {message}"


def test_profile_shares_the_run_declarations(capsys):
    assert (
        refused(capsys, ["profile", "--models", "alexnet", "--batch-size", "0"])
        == "bench: error: --batch-size 0: must be a whole number of at least 1"
    )


def test_argparse_errors_are_one_line_too(capsys):
    line = refused(capsys, ["run", "--dataset", "samples"])
    assert line == "bench: error: the following arguments are required: --models (see `bench run --help`)"
    assert refused(capsys, ["run", "--models", "x", "--bogus"]).startswith("bench: error: unrecognized arguments: --bogus")


def test_no_traceback_reaches_a_user_through_the_real_entry_point(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    out = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--models", "alexnet", "--dataset", "imagenet-1k", "--data-dir", str(f)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


# --- one declaration: RunConfig fields -> the run parser ------------------------------------------------


def _run_parser() -> argparse.ArgumentParser:
    return cli.build_parser()._subparsers._group_actions[0].choices["run"]


def test_every_run_option_is_a_declared_runconfig_field():
    declared = {name for f in fields(RunConfig) for fl in f.metadata.get("flags", ()) for name in fl.names}
    options = {o for a in _run_parser()._actions for o in a.option_strings if o not in ("-h", "--help")}
    options -= {"--no-channels-last"}  # the negative of the declared --channels-last (BooleanOptionalAction)
    assert options == declared
    assert {f.name for f in fields(RunConfig)} == {f.name for f in fields(RunConfig) if f.metadata.get("flags")}


def test_parsed_run_equals_the_keyword_config(tmp_path):
    argv = [
        "run",
        "--models",
        "alexnet,timm:resnet50",
        "--dataset",
        "imagenet-1k",
        "--data-dir",
        str(tmp_path),
        "--split",
        "val",
        "--limit",
        "7",
        "--batch-size",
        "8",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--precision",
        "bf16",
        "--no-channels-last",
        "--compile",
        "--protocol",
        "fixed",
        "--mean",
        "0.5,0.5,0.5",
        "--crop-pct",
        "0.9",
        "--interpolation",
        "bicubic",
        "--label-space",
        "imagenet-1k",
        "--no-efficiency",
        "--results-dir",
        str(tmp_path / "r"),
        "--force",
        "--no-progress",
    ]
    parsed = cli.from_args(RunConfig, cli.build_parser().parse_args(argv))
    assert parsed == RunConfig(
        models=["alexnet", "timm:resnet50"],
        dataset="imagenet-1k",
        data_dir=str(tmp_path),
        split="val",
        limit=7,
        batch_size=8,
        workers=0,
        device="cpu",
        precision="bf16",
        channels_last=False,
        compile=True,
        transform="fixed",
        transform_overrides={"mean": (0.5, 0.5, 0.5), "crop_pct": 0.9, "interpolation": "bicubic"},
        label_space="imagenet-1k",
        efficiency=False,
        results_dir=str(tmp_path / "r"),
        force=True,
        progress=False,
    )
    assert cli.from_args(RunConfig, cli.build_parser().parse_args(["run", "--models", "alexnet"])) == RunConfig(
        models=["alexnet"]
    )


def test_keyword_construction_runs_the_same_checks():
    with pytest.raises(ConfigError, match=r"^--crop-pct 5: use a fraction"):
        RunConfig(models=["alexnet"], transform_overrides={"crop_pct": 5})
    with pytest.raises(ConfigError, match=r"^--limit 0: must be a whole number of at least 1$"):
        RunConfig(models=["alexnet"], limit=0)
    with pytest.raises(ConfigError, match=r"^--dataset nope: use one of tiny-imagenet"):
        RunConfig(models=["alexnet"], dataset="nope")


def test_a_new_field_with_its_flag_is_one_declaration():
    @dataclass
    class Extended(RunConfig):
        seed: int = field(default=0, metadata=flag("--seed", parse=integer, check=at_least(0), help="sample seed"))

    parser = cli.Parser(prog="bench run")
    cli.add_flags(parser, Extended)
    assert cli.from_args(Extended, parser.parse_args(["--models", "alexnet", "--seed", "3"])).seed == 3
    assert cli.from_args(Extended, parser.parse_args(["--models", "alexnet"])).seed == 0
    with pytest.raises(ConfigError, match=r"^--seed -1: must be a whole number of at least 0$"):
        parser.parse_args(["--models", "alexnet", "--seed", "-1"])
    with pytest.raises(ConfigError, match=r"^--seed -2: "):
        Extended(models=["alexnet"], seed=-2)
    assert isinstance(Extended.__dataclass_fields__["seed"].metadata["flags"][0], Flag)


def test_dataset_choices_come_from_the_registry(monkeypatch):
    """The CLI's dataset list is the registry's: a new DatasetInfo shows up in `run` and `labels` with no other edit."""
    assert _run_parser()._option_string_actions["--dataset"].choices == tuple(D.KNOWN)
    extra = D.DatasetInfo("imagenet-x", "val", {"val": "val"}, D.label_spaces.imagenet_1k, (D.WNID_FOLDERS,))
    monkeypatch.setitem(D.KNOWN, "imagenet-x", extra)
    assert "imagenet-x" in _run_parser()._option_string_actions["--dataset"].choices
    assert RunConfig(models=["alexnet"], dataset="imagenet-x").dataset == "imagenet-x"


def test_help_imports_nothing_heavy():
    code = (
        "import sys; import bench.cli as c; c.build_parser().format_help(); "
        "heavy = [m for m in ('torch', 'timm', 'torchvision', 'datasets', 'pandas', 'PIL') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
