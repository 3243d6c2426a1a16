"""Interrupted, concurrent and hostile runs keep every finished result and write nothing half-done."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from bench.cli import main
from bench.errors import ResultsError
from bench.store import locks


@pytest.mark.slow
def test_sigterm_after_first_model_keeps_it_and_rerun_does_only_the_second(tmp_path):
    results = tmp_path / "results"
    args = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--models",
        "tf_efficientnet_lite0,vgg16",
        "--weights",
        "random",
        "--dataset",
        "samples",
        "--no-efficiency",
        "--no-progress",
        "--results-dir",
        str(results),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = results / "samples" / "val"
    # SIGTERM once the runner has moved on to vgg16 (its "== tv:vgg16" line on stderr): lite0's result is then
    # finished and its lock released, so what the signal interrupts is vgg16, not the end of lite0.
    err_lines: list[str] = []
    started = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            err_lines.append(line)
            if line.startswith("== tv:vgg16"):
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert started.wait(timeout=180), "".join(err_lines)[-2000:]
    found = list(folder.glob("timm-tf_efficientnet_lite0.in1k__random__*.json"))
    assert found, "".join(err_lines)[-2000:]
    first = found[0]
    proc.send_signal(signal.SIGTERM)
    out = proc.stdout.read()
    proc.wait(timeout=120)
    reader.join(timeout=10)
    err = "".join(err_lines)
    assert proc.returncode == 130, (out, err)
    assert "INTERRUPTED during tv:vgg16.IMAGENET1K_V1" in out
    json.loads(first.read_text())  # intact
    leftovers = [
        p.name for p in first.parent.iterdir() if p.name.startswith(("tv-vgg16", ".tv-vgg16")) or p.suffix in (".tmp", ".lock")
    ]
    assert leftovers == []  # nothing of the interrupted model
    rerun = subprocess.run(args, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 written, 1 skipped" in rerun.stdout and "tv-vgg16" in rerun.stdout


def test_entry_lock_refuses_or_waits(tmp_path):
    """flock belongs to an open file description, so one process can contend with itself."""
    entry = tmp_path / "samples" / "val" / "m__pretrained__model.json"
    order: list[str] = []
    with locks.entry_lock(entry, wait=False):
        with pytest.raises(ResultsError, match=r"another bench run \(pid \d+\)"):
            with locks.entry_lock(entry, wait=False):
                pass

        def waiter():
            with locks.entry_lock(entry):
                order.append("waiter")

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        order.append("holder done")
    t.join(5)
    assert order == ["holder done", "waiter"]


def test_concurrent_processes_compute_an_entry_once(tmp_path):
    args = [
        sys.executable,
        "-m",
        "bench",
        "run",
        "--models",
        "tf_efficientnet_lite0",
        "--dataset",
        "samples",
        "--no-efficiency",
        "--no-progress",
        "--results-dir",
        str(tmp_path),
    ]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    stdout = "".join(o for o, _ in outs)
    assert stdout.count("1 written") == 1 and stdout.count("1 skipped") == 1
    assert not list(tmp_path.rglob("*.lock"))  # removed after use


def test_results_dir_that_is_a_file_fails_cleanly(tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("not a directory")
    code = main(
        [
            "run",
            "--models",
            "tf_efficientnet_lite0",
            "--dataset",
            "samples",
            "--no-efficiency",
            "--no-progress",
            "--results-dir",
            str(blocker),
        ]
    )
    assert code == 2  # refused at config time, before any model is loaded
    assert "--results-dir" in capsys.readouterr().err
    assert blocker.read_text() == "not a directory"


def test_unreadable_samples_are_listed_in_the_failure_report(tmp_path, capsys):
    import fixtures as F

    d = tmp_path / "data" / "n07920052"
    d.mkdir(parents=True)
    for name, data in F.awkward_images().items():
        (d / name).write_bytes(data)
    (d / "zero.jpg").write_bytes(b"")
    from PIL import Image

    Image.new("RGB", (1, 1), (200, 100, 50)).save(d / "one_pixel.png")
    assert (
        main(
            [
                "run",
                "--models",
                "tf_efficientnet_lite0",
                "--dataset",
                "imagenet-1k",
                "--data-dir",
                str(tmp_path / "data"),
                "--no-efficiency",
                "--no-progress",
                "--results-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2 image(s) could not be read" in out and "truncated.jpg" in out and "zero.jpg" in out
    r = json.loads(next((tmp_path / "r").rglob("*.json")).read_text())
    assert r["accuracy"]["n"] == 5 and r["accuracy"]["n_failed"] == 2  # gray, cmyk, rgba, palette, 1x1 evaluated
    assert {f["id"] for f in r["accuracy"]["failed"]} == {"truncated.jpg", "zero.jpg"}


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    from PIL import Image

    from bench.data import images

    monkeypatch.setattr(images, "MAX_PIXELS", 10_000)
    path = tmp_path / "big.png"
    Image.new("L", (200, 200)).save(path)
    with pytest.raises(ValueError, match="decompression-bomb"):
        images.open_rgb(str(path))


def test_permission_denied_results_dir_names_the_fix(tmp_path, monkeypatch, capsys):
    """Root ignores chmod, so simulate the read-only directory where the OS reports it."""
    import errno
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code = main(
        [
            "run",
            "--models",
            "tf_efficientnet_lite0",
            "--dataset",
            "samples",
            "--no-efficiency",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "r"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Permission denied" in err and "--results-dir" in err  # on stderr, before any compute
    assert not list((tmp_path / "r").rglob("*.json"))


def test_lock_file_is_removed_after_use_and_a_waiter_locks_the_live_file(tmp_path):
    """The holder deletes the lock file; a run that was waiting on the deleted file must not believe it
    holds the lock while a third run locks the new file at the same path."""
    entry = tmp_path / "samples" / "val" / "m__pretrained__0123456789ab.json"
    with locks.entry_lock(entry) as held:
        assert held.path.exists() and held.path.read_text() == str(__import__("os").getpid())
    assert not held.path.exists()

    holder = locks.EntryLock(entry)
    assert holder.acquire(wait=False)
    got, release = threading.Event(), threading.Event()

    def waiter():
        lock = locks.EntryLock(entry)
        lock.acquire(wait=True)  # blocks on the holder's file, which the holder then deletes
        got.set()
        release.wait(10)
        lock.release()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.3)
    holder.release()
    assert got.wait(10)
    assert not locks.EntryLock(entry).acquire(wait=False)  # the waiter holds the file that is at the path now
    release.set()
    t.join(10)
    assert not locks.lock_path(entry).exists()
