"""The CLI contract: commands, outputs and exit codes, end to end with the real offline model."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.cli import main


def test_help_is_instant():
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bench.cli import main; import bench.cli;"
            "assert 'torch' not in sys.modules and 'timm' not in sys.modules",
        ],
        capture_output=True,
    )
    assert out.returncode == 0, out.stderr
    assert time.perf_counter() - start < 5


def test_labels_tsv(capsys):
    assert main(["labels", "tiny-imagenet", "--format", "tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "dataset_index\twnid\tmodel_index\tname"
    assert len(lines) == 201
    assert lines[1].startswith("0\tn01443537\t1\tgoldfish")
    crane = next(line for line in lines if "\tn03126707\t" in line)
    assert crane.split("\t")[2] == "517"


def test_labels_json(capsys):
    assert main(["labels", "tiny-imagenet", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["projection"]["coverage"] == 1.0 and data["classes"][199]["model_index"] == 988


def test_unknown_model_exits_2_with_suggestions(capsys, tmp_path):
    assert main(["run", "--models", "resnt50", "--dataset", "samples", "--results-dir", str(tmp_path)]) == 2
    assert "Did you mean: tv:resnet50, timm:resnet50" in capsys.readouterr().err  # the prefixed forms that resolve


def test_offline_tiny_imagenet_fails_fast_naming_data_dir_and_cache(capsys, tmp_path):
    start = time.perf_counter()
    assert main(["run", "--models", "alexnet", "--dataset", "tiny-imagenet", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--data-dir" in err and "alexnet-owt-7be5be79.pth" in err and "hub/checkpoints" in err
    assert time.perf_counter() - start < 30


def test_run_skip_force_and_failure_report(capsys, tmp_path):
    args = [
        "run",
        "--models",
        "tf_efficientnet_lite0,squeezenet1_0",
        "--dataset",
        "samples",
        "--no-efficiency",
        "--results-dir",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 1  # squeezenet1_0 has no cached weights: it fails, lite0 still lands
    out = capsys.readouterr().out
    assert "1 written" in out and "--weights PATH" in out
    failed = next(line for line in out.splitlines() if line.startswith("tv:squeezenet1_0.IMAGENET1K_V1"))
    assert "failed (weights for tv:squeezenet1_0.IMAGENET1K_V1 are not cached" in failed
    (path,) = (tmp_path / "samples" / "val").glob("timm-tf_efficientnet_lite0.in1k__pretrained__*.json")
    result = json.loads(path.read_text())
    assert result["accuracy"]["full"]["top1"] == 40.0 and result["efficiency"] is None
    assert result["env"]["torch"] and result["protocol_hash"]
    mtime = path.stat().st_mtime_ns
    assert main(args[:2] + ["tf_efficientnet_lite0"] + args[3:]) == 0
    assert "skipped (already done: accuracy stored)" in capsys.readouterr().out and path.stat().st_mtime_ns == mtime
    assert main(args[:2] + ["tf_efficientnet_lite0"] + args[3:] + ["--force"]) == 0
    assert path.stat().st_mtime_ns != mtime


def test_tiny_fixture_via_cli_records_transform_and_overrides(capsys, tmp_path, tiny_hf):
    base = [
        "run",
        "--models",
        "tf_efficientnet_lite0",
        "--dataset",
        "tiny-imagenet",
        "--data-dir",
        str(tiny_hf),
        "--no-efficiency",
        "--no-progress",
        "--results-dir",
        str(tmp_path),
    ]
    assert main(base) == 0
    r = json.loads(next((tmp_path / "tiny-imagenet" / "valid").glob("*.json")).read_text())
    assert r["transform"]["mean"] == [0.5, 0.5, 0.5] and r["transform"]["interpolation"] == "bicubic"
    assert r["accuracy"]["restricted"]["top5"] == 100.0 and r["labels"]["coverage"] == 1.0
    assert r["dataset"]["source"].startswith("hf-local:")
    assert (
        main(base + ["--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]) == 0
    )  # another experiment: no --force needed
    (r2,) = [x for x in map(lambda p: json.loads(p.read_text()), (tmp_path / "tiny-imagenet" / "valid").glob("*.json")) if x != r]
    assert r2["transform"]["mean"] == [0.485, 0.456, 0.406] and r2["protocol_hash"] == r["protocol_hash"]
    assert r2["run"]["transform_overrides"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def test_bad_arguments_exit_2(capsys, tmp_path):
    assert main(["run", "--models", "alexnet", "--dataset", "samples", "--limit", "0"]) == 2
    assert main(["run", "--models", "alexnet", "--dataset", "samples", "--weights", str(tmp_path / "missing.pth")]) == 2
    assert main(["run", "--models", "alexnet", "--dataset", "samples", "--mean", "1,2"]) == 2
    assert main(["run", "--models", "alexnet", "--precision", "fp8"]) == 2  # argparse errors too: one line, no SystemExit
