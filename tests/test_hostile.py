"""Issue 27: what a careless or hostile user feeds the harness. Every case: one line naming the fix, exit 2 (exit 1
only for "a model failed"), no traceback, nothing lost. One test per case of the issue, grouped by its clusters."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.errors import ResultsError

ROOT = Path(__file__).resolve().parents[1]
LITE0 = "timm:tf_efficientnet_lite0.in1k"


def one_line(capsys, argv: list[str], code: int = 2) -> str:
    """Run `bench ARGV`: it must exit `code` with one `bench: error:` line on stderr and no traceback."""
    got = main(argv)
    out, err = capsys.readouterr()
    assert got == code, (got, out, err)
    errors = [line for line in err.splitlines() if line.startswith("bench: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture
def store(tmp_path) -> Path:
    """Part of the committed results/: lite0 and lite1 on the bundled photos (no corruption runs, to keep the
    renders short) and the sensitivity reports."""
    src, dst = ROOT / "results", tmp_path / "results"
    shutil.copytree(src / "sensitivity", dst / "sensitivity")
    for p in (src / "samples" / "val").glob("*.json"):
        doc = json.loads(p.read_text())
        if doc["key"].get("corruptions") is None and "lite2" not in p.name:
            (dst / "samples" / "val").mkdir(parents=True, exist_ok=True)
            for f in (p, p.with_name(doc["samples_file"])):
                shutil.copy(f, dst / "samples" / "val" / f.name)
    return dst


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# ---------------------------------------------------------------------------------------------
# 1. one atomic writer; the output folder checked before compute; corrupt stored reports


def test_every_write_in_bench_goes_through_the_atomic_writer():
    found = subprocess.run(
        ["grep", "-rn", r"write_bytes\|write_text\|open(.*\"w\|savefig(path", "bench/"], cwd=ROOT, capture_output=True, text=True
    ).stdout.splitlines()
    assert found == [] or all(line.startswith("bench/store/atomic.py:") for line in found), found


def test_full_disk_during_a_render_leaves_every_page_and_plot_as_it_was(tmp_path, capsys, monkeypatch):
    from bench.store import atomic

    out = Path(shutil.copytree(ROOT / "leaderboards", tmp_path / "pages"))  # the pages of the committed results
    before = snapshot(out)
    real = atomic.os.replace

    def full_at_png(src, dst, *args, **kwargs):  # the disk fills up as the first plot is written
        if str(dst).endswith(".png"):
            enospc()
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", full_at_png)
    line = one_line(capsys, ["leaderboard", "--results-dir", str(ROOT / "results"), "--out", str(out)])
    assert "No space left on device" in line and "nothing was half-written" in line and ".png" in line
    assert snapshot(out) == before  # no 0-byte page, no truncated PNG, no temp file left


def test_sensitivity_out_that_is_a_file_is_refused_before_any_compute(tmp_path, capsys, monkeypatch):
    from bench.data import datasets

    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("data loaded before the output was checked"))
    blocker = tmp_path / "pages"
    blocker.write_text("mine")
    line = one_line(capsys, ["sensitivity", "--models", "tf_efficientnet_lite0", "--out", str(blocker)])
    assert line == f"bench: error: --out {blocker} is a file, not a folder: pass a folder (it is created when missing)"
    assert blocker.read_text() == "mine"


def test_sensitivity_out_on_a_read_only_mount_is_refused_before_any_compute(tmp_path, capsys, monkeypatch):
    """Root ignores chmod: the read-only mount is simulated where the OS reports it (creating a file in it)."""
    import tempfile

    from bench.data import datasets

    monkeypatch.setattr(datasets, "load", lambda *a, **k: pytest.fail("data loaded before the output was checked"))
    (tmp_path / "ro").mkdir()
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == tmp_path / "ro":
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    line = one_line(capsys, ["sensitivity", "--models", "tf_efficientnet_lite0", "--out", str(tmp_path / "ro")])
    assert "--out" in line and "Read-only file system" in line and "pass another folder" in line


def test_a_corrupt_sensitivity_report_is_named_and_the_other_pages_render(store, tmp_path, capsys):
    bad = store / "sensitivity" / "samples" / "val" / "timm-tf_efficientnet_lite1.in1k.json"
    bad.write_bytes(bad.read_bytes()[: 4096 // 4])  # what a full disk left before the atomic writer
    out = tmp_path / "pages"
    line = one_line(capsys, ["leaderboard", "--results-dir", str(store), "--out", str(out)])
    assert str(bad) in line and "corrupt or truncated" in line and "rerun `bench sensitivity`" in line
    md = (out / "sensitivity.md").read_text()
    assert "tf_efficientnet_lite0" in md and "tf_efficientnet_lite1" not in md  # the readable reports still render
    assert (out / "samples.md").is_file() and (out / "README.md").is_file()


# ---------------------------------------------------------------------------------------------
# 2. bench sensitivity keeps each finished model


def _fake_report(spec, *args, **kwargs):
    print("Downloading: a library's progress line")  # must not reach stdout
    if spec.id != LITE0:
        from bench.errors import WeightsUnavailableError

        raise WeightsUnavailableError(f"{spec.id}: weights are neither cached nor downloadable")
    from test_sensitivity import REPORT

    return {**REPORT, "model": spec.id}


def test_sensitivity_keeps_the_finished_model_when_a_later_one_fails(tmp_path, capsys, monkeypatch):
    from bench import sensitivity as S
    from bench.report import sensitivity as page

    monkeypatch.setattr(S, "measure_model", _fake_report)
    store, out = tmp_path / "results", tmp_path / "pages"
    argv = ["sensitivity", "--models", "tf_efficientnet_lite0,resnet18", "--results-dir", str(store), "--out", str(out)]
    assert main(argv) == 1  # a model failed; the other is kept
    stdout, stderr = capsys.readouterr()
    assert [r["model"] for r in page.load(store)] == [LITE0]
    assert LITE0 in (out / "sensitivity.md").read_text()
    assert "Downloading" not in stdout and "Downloading" in stderr
    assert "resnet18" in stderr and "neither cached nor downloadable" in stderr


def test_a_corrupt_report_of_a_model_being_measured_is_set_aside_and_regenerated(tmp_path, capsys, monkeypatch):
    from test_sensitivity import REPORT

    from bench import sensitivity as S
    from bench.report import sensitivity as page

    monkeypatch.setattr(S, "measure_model", _fake_report)
    store = tmp_path / "results"
    path = page.save(store, {**REPORT, "model": LITE0})
    path.write_text('{"model": ')
    argv = ["sensitivity", "--models", "tf_efficientnet_lite0", "--results-dir", str(store), "--out", str(tmp_path / "p")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "set aside as timm-tf_efficientnet_lite0.in1k.json.corrupt" in err
    assert page.load(store) == [{**REPORT, "model": LITE0}]
    assert path.with_name(path.name + ".corrupt").read_text() == '{"model": '


# ---------------------------------------------------------------------------------------------
# 3. the read side validates on load


def _lite1_result(store: Path) -> Path:
    (path,) = (store / "samples" / "val").glob("*lite1*.json")
    return path


def test_truncated_samples_file_is_named_and_the_other_results_render(store, tmp_path, capsys):
    result = _lite1_result(store)
    npz = result.with_name(json.loads(result.read_text())["samples_file"])
    npz.write_bytes(npz.read_bytes()[:1000])
    out = tmp_path / "pages"
    line = one_line(capsys, ["leaderboard", "--results-dir", str(store), "--out", str(out)])
    assert str(npz) in line and "rerun `bench run`" in line and "everything else was written" in line
    assert "tf_efficientnet_lite0" in (out / "samples.md").read_text()
    line = one_line(capsys, ["check", "--baseline", str(ROOT / "baselines" / "offline.json"), "--results-dir", str(store)])
    assert str(npz) in line  # the gate says exit 2 (cannot judge), not 1 (worse)


@pytest.fixture
def baseline(tmp_path) -> Path:
    for name in ("offline.json", "offline.npz"):
        shutil.copy(ROOT / "baselines" / name, tmp_path / name)
    return tmp_path / "offline.json"


def _rewrite_npz(path: Path, change) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda a: a.update({k: v[:-1] for k, v in a.items() if k.endswith("/target")}), "differ in length"),
        (lambda a: a.update({k: v.reshape(-1, 1) for k, v in a.items() if k.endswith("/index")}), "has shape (5, 1)"),
    ],
    ids=["target-shorter-than-index", "index-of-shape-5x1"],
)
def test_baseline_arrays_of_the_wrong_shape_are_named(baseline, capsys, change, reason):
    _rewrite_npz(baseline.with_suffix(".npz"), change)
    line = one_line(capsys, ["check", "--baseline", str(baseline), "--results-dir", str(ROOT / "results")])
    assert str(baseline) in line and reason in line and "bench check --update" in line


def test_baseline_count_of_1e999_is_named(baseline, capsys):
    baseline.write_text(baseline.read_text().replace('"n": 5', '"n": 1e999', 1))
    line = one_line(capsys, ["check", "--baseline", str(baseline), "--results-dir", str(ROOT / "results")])
    assert "accuracy.n must be a whole number" in line and "inf" in line and str(baseline) in line


def test_deeply_nested_transfer_result_is_named_not_a_recursion_error(tmp_path):
    from bench.errors import ResultsError
    from bench.store import transfer

    bomb = tmp_path / "transfer" / "digits" / "deep.json"
    bomb.parent.mkdir(parents=True)
    bomb.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ResultsError, match="nested too deeply") as e:
        transfer.read(bomb)
    assert str(bomb) in str(e.value) and "rerun `bench transfer`" in str(e.value)


def test_deeply_nested_result_json_is_named_and_the_others_render(store, tmp_path, capsys):
    bomb = store / "samples" / "val" / "deep.json"
    bomb.write_text("[" * 200_000 + "]" * 200_000)
    out = tmp_path / "pages"
    line = one_line(capsys, ["leaderboard", "--results-dir", str(store), "--out", str(out)])
    assert str(bomb) in line and "nested too deeply" in line
    assert "tf_efficientnet_lite0" in (out / "samples.md").read_text()
    line = one_line(capsys, ["check", "--baseline", str(ROOT / "baselines" / "offline.json"), "--results-dir", str(store)])
    assert str(bomb) in line


def test_a_key_transform_that_is_a_string_is_named(store, tmp_path, capsys):
    result = _lite1_result(store)
    doc = json.loads(result.read_text())
    doc["key"]["transform"] = "model"
    result.write_text(json.dumps(doc))
    line = one_line(capsys, ["check", "--baseline", str(ROOT / "baselines" / "offline.json"), "--results-dir", str(store)])
    assert str(result) in line and "key.transform: expected dict, got str 'model'" in line and "rerun `bench run`" in line


# ---------------------------------------------------------------------------------------------
# 4. no empty result, and the digest covers the bytes read


def _wnid_folder(root: Path, images: dict[str, bytes]) -> Path:
    d = root / "n07920052"  # espresso: the bundled coffee photo's class
    d.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (d / name).write_bytes(data)
    return root


def test_content_digest_changes_with_the_bytes_under_the_same_names(tmp_path):
    from bench.data import datasets as D

    root = _wnid_folder(tmp_path / "d", {"a.JPEG": b"not an image", "b.jpg": b"nor this"})
    images = D.load("imagenet-1k", None, root)
    first = D.content_digest(images, [0, 1])
    assert first == D.content_digest(images, [0, 1])  # deterministic
    (root / "n07920052" / "b.jpg").write_bytes(b"other bytes")
    assert D.content_digest(images, [0, 1]) != first
    assert D.content_digest(images, [0]) == D.content_digest(D.load("imagenet-1k", None, root), [0])


@pytest.mark.slow
def test_no_decodable_image_is_a_failed_run_and_real_images_are_then_measured(tmp_path, capsys):
    root = _wnid_folder(tmp_path / "data", {"a.JPEG": b"not an image", "b.jpg": b"\xff\xd8 nor this", "c.png": b""})
    argv = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "imagenet-1k", "--data-dir", str(root)]
    argv += ["--no-efficiency", "--no-progress", "--results-dir", str(tmp_path / "r")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "none of the 3 image(s) could be read and transformed (first: a.JPEG" in err and "nothing was stored" in err
    assert not list((tmp_path / "r").rglob("*.json"))
    coffee = (ROOT / "bench" / "resources" / "samples" / "coffee.jpg").read_bytes()
    _wnid_folder(root, {"a.JPEG": coffee, "b.jpg": coffee, "c.png": coffee})  # real images, same names
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "written" in out and "already done" not in out
    (result,) = (tmp_path / "r").rglob("*.json")
    assert json.loads(result.read_text())["accuracy"]["n"] == 3


def test_committed_lite0_result_is_still_found_by_make_bench(capsys):
    """The committed results carry the content-covering digest: `make bench` on a fresh clone skips lite0."""
    from bench.config import RunConfig
    from bench.data import datasets as D
    from bench.store import results as R

    cfg = RunConfig(models=["tf_efficientnet_lite0"], dataset="samples")
    images = D.load("samples", None, None)
    indices = D.stratified(images.labels, cfg.limit)
    digest = R.samples_digest(indices, images.labels, D.content_digest(images, indices))
    stored = [R.read(p) for p in R.iter_paths(ROOT / "results")]
    assert stored and {r.key.samples for r in stored} == {digest}


# ---------------------------------------------------------------------------------------------
# 5. bounds and exit codes


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--shard", "0/100000000000000000000"], "--shard 0/100000000000000000000: N is more than 100_000 shards"),
        (["--batch-size", "99999999999999999999"], "--batch-size 99999999999999999999: must be a whole number from 1 to 65_536"),
        (["--workers", "99999999999999999999"], "--workers 99999999999999999999: must be a whole number from 0 to 1_024"),
        (["--shard", "-1/2"], "--shard -1/2: expected I/N with 0 <= I < N"),
    ],
    ids=["shard-1e20", "batch-size-1e20", "workers-1e20", "shard-minus-1"],
)
def test_numbers_out_of_bounds_are_refused_at_parse_time(capsys, flags, expected):
    line = one_line(capsys, ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", *flags])
    assert line.startswith(f"bench: error: {expected}"), line


def test_shard_count_from_the_environment_is_bounded(capsys, monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    monkeypatch.setenv("BENCH_SHARD_COUNT", "1" + "0" * 20)
    line = one_line(capsys, ["run", "--models", "tf_efficientnet_lite0", "--dry-run"])
    assert "a 21-digit number shards is more than 100_000" in line


def test_classes_file_under_home_is_expanded_once_where_parsed(tmp_path, monkeypatch):
    from bench.config import RunConfig
    from bench.data import labels

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.txt").write_text("\n".join(labels.tiny_imagenet().wnids[:3]) + "\n")
    cfg = RunConfig(models=["alexnet"], dataset="imagenet-1k", classes="~/mine.txt", label_space="~/mine.txt")
    assert cfg.classes == cfg.label_space == str(tmp_path / "mine.txt")  # what the run reads is the checked path
    assert cfg.dataset_key == "imagenet-1k@mine"


def test_label_space_that_the_spec_contradicts_is_a_usage_error_before_building(capsys, monkeypatch):
    from bench import models

    monkeypatch.setattr(models, "build", lambda *a, **k: pytest.fail("built a model for a usage error"))
    line = one_line(
        capsys, ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--label-space", "tiny-imagenet"]
    )
    assert "--label-space tiny-imagenet has 200 classes but timm:tf_efficientnet_lite0.in1k has a 1000-output head" in line


def test_full_disk_at_the_lock_is_a_store_error_and_leaves_no_lock(tmp_path, monkeypatch):
    from bench.store import locks

    monkeypatch.setattr(locks.os, "pwrite", enospc)
    lock = locks.EntryLock(tmp_path / "samples" / "val" / "x.json")
    with pytest.raises(ResultsError, match="cannot write the lock .*No space left on device.*--results-dir") as e:
        lock.acquire(wait=False)
    assert e.value.exit_code == 2 and not lock.held
    assert not list(tmp_path.rglob("*.lock"))


def test_full_disk_at_the_lock_in_bench_run_is_exit_2_on_stderr(tmp_path, capsys, monkeypatch):
    from bench.store import locks

    monkeypatch.setattr(locks.os, "pwrite", enospc)
    argv = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "samples", "--no-efficiency", "--no-progress"]
    assert main([*argv, "--results-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "No space left on device" in err  # not only in the stdout table
    assert not list(tmp_path.rglob("*.lock")) and not list(tmp_path.rglob("*.json"))


def _corrupt_parquet(tmp_path, tiny_items) -> Path:
    import fixtures as F

    root = F.write_hf_parquet(tmp_path / "hf", tiny_items)
    shard = next((root / "data").glob("*.parquet"))
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    return root


@pytest.mark.parametrize("streaming", [[], ["--streaming"]], ids=["materialised", "streaming"])
def test_corrupt_parquet_names_the_corrupt_shard_not_the_naming(tmp_path, tiny_items, capsys, streaming):
    root = _corrupt_parquet(tmp_path, tiny_items)
    argv = ["run", "--models", "tf_efficientnet_lite0", "--dataset", "tiny-imagenet", "--data-dir", str(root)]
    line = one_line(capsys, [*argv, *streaming, "--no-efficiency", "--results-dir", str(tmp_path / "r")])
    # the materialised path names the folder, the streaming path the shard itself (bench.data.hub_files.corrupt_file)
    assert "is corrupt (not readable as parquet" in line and "fetch it again" in line and "<split>-*.parquet" not in line
    assert str(root) in line


# ---------------------------------------------------------------------------------------------
# 6. messages that name the right fix


def test_hf_home_that_is_a_file_is_named(tmp_path, monkeypatch):
    from bench.data import datasets as D

    home = tmp_path / "hf"
    home.write_text("")
    monkeypatch.setenv("HF_HOME", str(home))
    err = D.hf_error(NotADirectoryError(errno.ENOTDIR, "Not a directory", str(home / "datasets")), tmp_path, "rename")
    assert str(err).startswith(f"HF_HOME={home} is a file, not a folder: the Hugging Face cache must be a folder")


def test_corruptions_all_with_a_severity_is_every_corruption_at_that_severity():
    from bench.measure import corruptions as C

    assert C.parse("all:3") == tuple((c, 3) for c in C.COMMON)
    assert C.canonical("all:3") == ",".join(f"{c}:3" for c in C.COMMON)
    with pytest.raises(Exception, match="severity must be 1 to 5, e.g. all:3"):
        C.parse("all:9")


def test_baseline_schema_version_as_a_string_says_so(baseline, capsys):
    baseline.write_text(baseline.read_text().replace('"baseline_schema_version": 2', '"baseline_schema_version": "2"'))
    line = one_line(capsys, ["check", "--baseline", str(baseline), "--results-dir", str(ROOT / "results")])
    assert "baseline_schema_version '2' (a string; the version is a number), this bench reads 2" in line


@pytest.mark.parametrize("kind", ["symlink-loop", "regular-file"])
def test_a_folder_that_is_not_one_says_what_it_is(tmp_path, capsys, kind):
    path = tmp_path / "data"
    if kind == "symlink-loop":
        path.symlink_to(path)
        what = "is a symlink loop"
    else:
        path.write_text("x")
        what = "is a file, not a folder"
    line = one_line(capsys, ["run", "--models", "alexnet", "--dataset", "imagenet-1k", "--data-dir", str(path)])
    assert f"--data-dir {path} {what}" in line
    line = one_line(capsys, ["leaderboard", "--results-dir", str(path), "--out", str(tmp_path / "o")])
    assert f"--results-dir {path} {what}" in line


def test_a_huge_model_name_is_shortened_in_the_message(capsys):
    line = one_line(capsys, ["run", "--models", "x" * 100_000, "--dataset", "samples"])
    assert len(line) < 300 and "[100002 characters]" in line


def test_a_leftover_zip_that_is_not_numpy_is_named(store, tmp_path, capsys):
    """Beyond the list: a .samples.npz that is a valid zip of something else."""
    result = _lite1_result(store)
    npz = result.with_name(json.loads(result.read_text())["samples_file"])
    with zipfile.ZipFile(npz, "w") as z:
        z.writestr("index.npy", b"not numpy")
    line = one_line(capsys, ["check", "--baseline", str(ROOT / "baselines" / "offline.json"), "--results-dir", str(store)])
    assert str(npz) in line and "index is not a numpy array" in line


def test_a_baseline_that_is_a_folder_says_so(tmp_path, capsys):
    """Beyond the list: it used to say "not found: create it with --update"."""
    line = one_line(capsys, ["check", "--baseline", str(tmp_path), "--results-dir", str(ROOT / "results")])
    assert (
        line
        == f"bench: error: baseline {tmp_path} is a folder: pass the baseline's .json file, e.g. --baseline {tmp_path / 'offline.json'}"
    )


def test_a_data_dir_name_too_long_for_the_file_system(capsys):
    """Beyond the list: Path.exists() raised ENAMETOOLONG (a traceback, exit 1)."""
    line = one_line(capsys, ["run", "--models", "alexnet", "--dataset", "imagenet-1k", "--data-dir", "/tmp/" + "a" * 5000])
    assert "is a name too long for the file system" in line and "[5005 characters]" in line and len(line) < 600
