"""The harness against the hub's real protocol, through the real client (issue 23).

Every test runs `huggingface_hub`, `datasets` and `hf://` unpatched against the local hub of
tests/hub_server.py (fixture `hf_online`), with the real cache layout. The oracle for what moved is
the server's own request log; for what was read, the repository files written here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import hf_repo
import pytest
from hub_server import go_offline

from bench.cli import main
from bench.data import datasets as D
from bench.data import hub_files as H
from bench.data import streaming as S
from bench.errors import DatasetUnavailableError, WeightsUnavailableError

TINY = "zh-plus/tiny-imagenet"
IMAGENET = "ILSVRC/imagenet-1k"


@pytest.fixture
def tiny_repo(hf_tiny_repo):
    return hf_tiny_repo


@pytest.fixture
def imagenet_repo(hf_imagenet_repo):
    return hf_imagenet_repo


def publish(hub, repo, repo_id=TINY):
    root, shards = repo
    return shards, hub.add("datasets", repo_id, hf_repo.files_dict(root))


def _cli(tmp_path, *args: str) -> int:
    return main(
        [
            "run",
            "--models",
            "tf_efficientnet_lite0",
            "--no-efficiency",
            "--no-progress",
            "--device",
            "cpu",
            "--results-dir",
            str(tmp_path / "results"),
            *args,
        ]
    )


def one_line_error(capsys, code: int) -> str:
    """The CLI's failure contract: exit 2, one line on stderr (after any progress lines), no traceback."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("bench: error:")]
    assert len(errors) == 1, err
    return errors[0]


# --- 1. mirrors and proxies ------------------------------------------------------------------------


def test_a_mirror_through_a_proxy_is_online(hf_online, tiny_repo, monkeypatch, capsys):
    """HF_ENDPOINT is a mirror (not huggingface.co) and every request must go through HTTP_PROXY: the library's own
    calls decide reachability, so the split is fetched through the proxy (once a socket probe of huggingface.co:443
    declared this machine offline)."""
    from huggingface_hub.utils import close_session

    shards, repo = publish(hf_online, tiny_repo)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, hf_online.url)  # the local hub also answers absolute-form (proxy) requests
    monkeypatch.setenv("NO_PROXY", "")
    close_session()
    images = D.load("tiny-imagenet")
    assert len(images) == len(hf_repo.tiny_rows())
    assert sorted(hf_online.fetched(repo)) == sorted(["README.md", "dataset_infos.json", *shards["valid"]])
    assert hf_online.requests and all(r.proxied for r in hf_online.requests)


def test_an_unreachable_endpoint_names_itself(hf_online, monkeypatch):
    import socket

    from huggingface_hub import constants

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", dead)
    with pytest.raises(DatasetUnavailableError, match=rf"{re.escape(dead)} is unreachable \(ConnectError\).*--data-dir"):
        D.load("tiny-imagenet")


# --- 2. a hub that answers but fails, with the split cached ------------------------------------------


@pytest.mark.parametrize("status,why", [(503, r"answered 503 \(server error\)"), (429, r"rate-limiting requests \(429\)")])
def test_a_failing_hub_falls_back_to_the_complete_cache(hf_online, tiny_repo, capsys, status, why):
    publish(hf_online, tiny_repo)
    first = D.load("tiny-imagenet")
    hf_online.reset()
    hf_online.switches.fail = status
    again = D.load("tiny-imagenet")
    err = capsys.readouterr().err
    assert re.search(rf"{why}; using the complete cached copy of {TINY} valid \(commit [0-9a-f]{{12}}\)", err), err
    assert again.labels == first.labels and [again.raw(i) for i in range(len(again))] == [first.raw(i) for i in range(len(first))]
    assert hf_online.sent == sum(r.sent for r in hf_online.requests if r.status == status)  # error bodies only


# --- 3. partial caches -------------------------------------------------------------------------------


def _snapshot(repo_id: str) -> Path:
    snapshot = H.cached_snapshot(repo_id)
    assert snapshot is not None
    return snapshot


def test_a_partial_cache_offline_names_the_missing_files_and_the_command(hf_online, imagenet_repo, tmp_path, monkeypatch, capsys):
    shards, repo = publish(hf_online, imagenet_repo, IMAGENET)
    D.load("imagenet-1k")
    (_snapshot(IMAGENET) / shards["validation"][1]).unlink()  # an interrupted download
    go_offline(monkeypatch)
    code = _cli(tmp_path, "--dataset", "imagenet-1k")
    line = one_line_error(capsys, code)
    assert "1 of 2 files are not in the HF hub cache" in line and shards["validation"][1] in line
    assert f'`hf download {IMAGENET} --repo-type dataset --revision {repo.sha} --include "data/validation-*"`' in line


def test_a_partial_cache_with_a_failing_hub_is_an_error_not_a_smaller_split(hf_online, imagenet_repo):
    shards, _ = publish(hf_online, imagenet_repo, IMAGENET)
    D.load("imagenet-1k")
    (_snapshot(IMAGENET) / shards["validation"][0]).unlink()
    hf_online.switches.fail = 503  # transient: name the missing files and the command for when the hub is back
    with pytest.raises(
        DatasetUnavailableError, match=rf"answered 503.*1 of 2 files are not in the HF hub cache.*{shards['validation'][0]}"
    ):
        D.load("imagenet-1k")
    hf_online.switches.fail = None
    hf_online.switches.gated.add(IMAGENET)  # the fix is access, not a download command that would fail the same way
    with pytest.raises(DatasetUnavailableError, match=r"is gated: .*\(the HF hub cache holds 1 of the split's 2 files\)") as e:
        D.load("imagenet-1k")
    assert "hf download" not in str(e.value)


def test_online_a_partial_cache_is_completed(hf_online, imagenet_repo):
    shards, repo = publish(hf_online, imagenet_repo, IMAGENET)
    D.load("imagenet-1k")
    link = _snapshot(IMAGENET) / shards["validation"][1]
    link.resolve().unlink()  # an interrupted download: neither the blob nor the snapshot link
    link.unlink()
    hf_online.reset()
    images = D.load("imagenet-1k")
    assert hf_online.fetched(repo) == [shards["validation"][1]] and len(images) == len(hf_repo.imagenet_rows())


def test_without_a_recorded_listing_the_cards_count_catches_a_missing_shard(hf_online, tiny_repo, monkeypatch):
    """A cache filled by other tools has no listing: the card's num_examples (dataset_infos.json here) still tells."""
    shards, repo = publish(hf_online, tiny_repo)
    D.load("tiny-imagenet")
    storage = _snapshot(TINY).parent.parent
    (storage / H.LISTINGS / f"{repo.sha}.json").unlink()
    (_snapshot(TINY) / shards["valid"][1]).unlink()
    go_offline(monkeypatch)
    n = len(hf_repo.tiny_rows())
    with pytest.raises(DatasetUnavailableError, match=rf"valid: \d+ examples in 1 files, but its card says {n}.*hf download"):
        D.load("tiny-imagenet")


@pytest.mark.parametrize("listing", [True, False])
def test_offline_a_truncated_cached_file_is_reported_corrupt_with_its_path(hf_online, tiny_repo, monkeypatch, listing):
    shards, repo = publish(hf_online, tiny_repo)
    D.load("tiny-imagenet")
    if not listing:
        (_snapshot(TINY).parent.parent / H.LISTINGS / f"{repo.sha}.json").unlink()
    cached = _snapshot(TINY) / shards["valid"][0]
    blob = cached.resolve()
    blob.write_bytes(blob.read_bytes()[:100])
    go_offline(monkeypatch)
    with pytest.raises(DatasetUnavailableError, match=r"corrupt") as e:
        D.load("tiny-imagenet")
    assert str(cached) in str(e.value) and "not in the" not in str(e.value)


# --- 4 and 6: one diagnosis per failure, on the materialised and the streaming path ------------------------


CASES = {
    "gated": (
        lambda hub: hub.switches.gated.add(TINY),
        rf"{TINY} is gated: accept its terms at http://127\.0\.0\.1:\d+/datasets/{TINY}",
    ),
    "bad-token": (lambda hub: setattr(hub.switches, "bad_token", True), r"rejected the token \(401: invalid or expired\)"),
    "not-found": (
        lambda hub: hub.switches.missing.add(TINY),
        rf"{TINY} was not found on http://127\.0\.0\.1:\d+ \(or it is private\)",
    ),
    "rate-limited": (lambda hub: setattr(hub.switches, "fail", 429), r"rate-limiting requests \(429\): wait"),
    "server-error": (lambda hub: setattr(hub.switches, "fail", 503), r"answered 503 \(server error\): rerun later"),
}


@pytest.mark.parametrize("streaming", [False, True], ids=["materialised", "streaming"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_hub_failure_is_one_line_with_its_own_fix(hf_online, tiny_repo, tmp_path, monkeypatch, capsys, case, streaming):
    publish(hf_online, tiny_repo)
    monkeypatch.setenv("HF_TOKEN", "hf_expired_or_invalid_token")
    switch, expected = CASES[case]
    switch(hf_online)
    code = _cli(tmp_path, "--dataset", "tiny-imagenet", *(["--streaming"] if streaming else []))
    line = one_line_error(capsys, code)
    assert re.search(expected, line), line
    assert ("gated" in line) == (case == "gated"), line  # a bad token or a missing repo is not "gated"


def test_gated_while_streaming_the_shards_is_the_same_one_line(hf_online, imagenet_repo, tmp_path, capsys):
    """The card is public in a gated repo: the listing and card succeed and the hf:// read of the first shard is
    refused (401 GatedRepo), inside pyarrow's reads; that reads as on the materialised path, not as a traceback."""
    shards, _ = publish(hf_online, imagenet_repo, IMAGENET)
    hf_online.switches.gated.add(IMAGENET)
    code = _cli(tmp_path, "--dataset", "imagenet-1k", "--streaming")
    line = one_line_error(capsys, code)
    assert re.search(rf"{IMAGENET} is gated: accept its terms at http://127\.0\.0\.1:\d+/datasets/{IMAGENET}", line), line
    refused = [r for r in hf_online.requests if r.status == 401 and "/resolve/" in r.path]
    assert refused and all(shards["validation"][0] in r.path for r in refused)  # the shard's hf:// read, not the card


def test_a_dead_proxy_with_a_complete_cache_falls_back_to_it(hf_online, tiny_repo, monkeypatch, capsys):
    import socket

    from huggingface_hub.utils import close_session

    publish(hf_online, tiny_repo)
    D.load("tiny-imagenet")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.setenv("NO_PROXY", "")
    close_session()
    hf_online.reset()
    images = D.load("tiny-imagenet")
    err = capsys.readouterr().err
    assert len(images) == len(hf_repo.tiny_rows()) and hf_online.requests == []
    assert re.search(rf"(the proxy failed|is unreachable through HTTP_PROXY={dead}).*; using the complete cached copy", err), err


# --- 5. the streaming index pass reads what column projection needs ----------------------------------


def test_the_streaming_index_reads_only_the_label_and_path_columns(hf_online, tmp_path, capsys):
    """One 12-row-group shard of incompressible 'images': indexing reads the footer and two small columns, and
    reports the bytes it read, which are the bytes the server sent."""
    import datasets as hfds
    import numpy as np

    from bench.data import labels as L

    wnids = list(L.tiny_imagenet().wnids)
    rng = np.random.default_rng(0)
    n = 240
    features = hfds.Features({"image": hfds.Image(), "label": hfds.ClassLabel(names=wnids)})
    ds = hfds.Dataset.from_dict(
        {
            "image": [{"bytes": rng.bytes(20_000), "path": f"img_{i:04d}.JPEG"} for i in range(n)],
            "label": [i % 200 for i in range(n)],
        },
        features=features,
    )
    shard = tmp_path / "valid-00000-of-00001.parquet"
    ds.to_parquet(str(shard), batch_size=20)  # 12 row groups
    import pyarrow.parquet as pq

    assert pq.ParquetFile(shard).metadata.num_row_groups == 12
    repo = hf_online.add("datasets", TINY, {"data/valid-00000-of-00001.parquet": shard.read_bytes()})
    images = S.load("tiny-imagenet")
    assert images.labels == [i % 200 for i in range(n)] and images.ids()[:2] == ["img_0000.JPEG", "img_0001.JPEG"]
    size = shard.stat().st_size
    sent = hf_online.sent_for(repo, "data/valid-00000-of-00001.parquet")
    assert sent < size / 20, (sent, size)  # 4.8 MB of image bytes stay on the server
    err = capsys.readouterr().err
    assert f"reading {H.human(sent)} of {H.human(size)}" in err, err


# --- 7. listings without sha256 or sizes -------------------------------------------------------------


def test_a_listing_without_sizes_is_unverified_not_zero_bytes(hf_online, tiny_repo, capsys):
    publish(hf_online, tiny_repo)
    hf_online.switches.no_sizes = True
    images = D.load("tiny-imagenet")
    assert len(images) == len(hf_repo.tiny_rows())
    err = capsys.readouterr().err
    assert "sizes not listed in the repository" in err and "unverified (the listing gives neither size nor sha256)" in err
    assert "0 B of 0 B" not in err and "verified by present" not in err


# --- 8. a truncated siblings list cannot drop shards -------------------------------------------------


def test_truncated_siblings_and_a_paged_tree_still_give_every_shard(hf_online, imagenet_repo):
    shards, repo = publish(hf_online, imagenet_repo, IMAGENET)
    hf_online.switches.siblings_limit = 3  # .gitattributes, README.md, data/test-*: no validation shard at all
    hf_online.switches.page_size = 2
    images = D.load("imagenet-1k")
    assert len(images) == len(hf_repo.imagenet_rows())
    assert sorted(p for p in hf_online.fetched(repo) if p != "README.md") == shards["validation"]
    assert sum("cursor=" in r.path for r in hf_online.requests) >= 3  # the Link header was followed


# --- 9. dataset_infos.json ---------------------------------------------------------------------------


def test_labels_come_from_dataset_infos_json_when_the_card_has_no_dataset_info(hf_online, tiny_repo):
    from bench.data import labels as L

    publish(hf_online, tiny_repo)
    images = D.load("tiny-imagenet")
    rows = hf_repo.tiny_rows()
    tiny = L.tiny_imagenet().wnids
    assert [images.label_space.wnids[y] for y in images.labels] == [tiny[y] for _, y, _ in rows]


# --- 10. the commands the messages name exist in the supported range -----------------------------------


def test_every_hf_command_named_in_a_message_exists_and_the_lower_bound_has_them():
    src = "\n".join(p.read_text() for p in Path("bench").rglob("*.py"))
    commands = sorted(set(re.findall(r"`hf ((?:auth|cache) \w+|download)\b", src)))
    assert {"auth login", "download", "cache rm"} <= set(commands), commands
    hf = Path(sys.executable).parent / "hf"
    for cmd in commands:
        done = subprocess.run([str(hf), *cmd.split(), "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (cmd, done.stderr[-500:])
    # all three arrived with huggingface_hub 1.0 (`hf auth`, `hf cache rm`); pyproject must not allow older
    pyproject = Path("pyproject.toml").read_text()
    assert re.search(r'"huggingface_hub>=1\.0"', pyproject)


# --- 11. TRANSFORMERS_OFFLINE ---------------------------------------------------------------------------


def test_transformers_offline_keeps_the_harness_off_the_network(hf_online, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    env["TRANSFORMERS_OFFLINE"] = "1"
    code = "from bench.data import datasets as D\ntry:\n    D.load('tiny-imagenet')\nexcept Exception as e:\n    print(e)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "huggingface_hub is offline" in done.stdout, done.stdout + done.stderr[-2000:]
    assert hf_online.requests == []


# --- 12. timm weights -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_timm_weights() -> tuple[bytes, str]:
    """A real timm checkpoint of a tiny model (safetensors) and the checksum of its state dict."""
    import safetensors.torch
    import timm
    import torch

    from bench.models import weights as W

    torch.manual_seed(0)
    model = timm.create_model("test_resnet.r160_in1k", pretrained=False)
    return safetensors.torch.save({k: v.contiguous() for k, v in model.state_dict().items()}), W.state_dict_sha256(model)


def test_timm_weights_come_from_the_hub_into_the_cache_then_offline(hf_online, tiny_timm_weights, monkeypatch):
    from huggingface_hub import constants

    from bench import models as M

    data, digest = tiny_timm_weights
    repo = hf_online.add("models", "timm/test_resnet.r160_in1k", {"model.safetensors": data, "config.json": b"{}"})
    spec = M.resolve("test_resnet.r160_in1k")
    assert M.uncached_weights_hint(spec) is not None
    _, info = M.build(spec, "pretrained")
    assert info.sha256 == digest and info.origin == "timm/test_resnet.r160_in1k"
    cached = Path(constants.HF_HUB_CACHE) / "models--timm--test_resnet.r160_in1k" / "snapshots" / repo.sha / "model.safetensors"
    assert cached.is_symlink() and cached.resolve().parent.name == "blobs"
    assert (cached.parents[2] / "refs" / "main").read_text() == repo.sha
    assert hf_online.fetched(repo) == ["model.safetensors"]
    from bench.models import weights as W

    assert W.weights_file(spec) == cached and M.uncached_weights_hint(spec) is None
    go_offline(monkeypatch)
    hf_online.reset()
    _, again = M.build(spec, "pretrained")
    assert again.sha256 == digest and hf_online.requests == []


def test_timm_weights_failures_say_what_failed(hf_online, tiny_timm_weights, monkeypatch):
    from bench import models as M

    hf_online.add("models", "timm/test_resnet.r160_in1k", {"model.safetensors": tiny_timm_weights[0]})
    spec = M.resolve("test_resnet.r160_in1k")
    hf_online.switches.gated.add("timm/test_resnet.r160_in1k")
    with pytest.raises(
        WeightsUnavailableError, match=r"timm/test_resnet\.r160_in1k is gated: accept its terms at .*/timm/test_resnet"
    ):
        M.build(spec, "pretrained")
    hf_online.switches.gated.clear()
    go_offline(monkeypatch)
    with pytest.raises(
        WeightsUnavailableError,
        match=r'not cached and offline mode is on.*`hf download timm/test_resnet\.r160_in1k --include "model\.safetensors" --include "pytorch_model\.bin"`',
    ):
        M.build(spec, "pretrained")


def test_cached_weights_are_found_by_timms_own_rule(hf_online, tiny_timm_weights):
    """@revision and hf_hub_filename decide the cached file and the hint, as in timm's load_state_dict_from_hf."""
    from huggingface_hub import hf_hub_download

    from bench.models import weights as W
    from bench.models.registry import ModelSpec

    repo = hf_online.add("models", "org/clip", {"open_clip_model.safetensors": tiny_timm_weights[0]})
    cfg = {"hf_hub_id": f"org/clip@{repo.sha}", "hf_hub_filename": "open_clip_pytorch_model.bin"}
    spec = ModelSpec("timm", "vit_clip_like", "openai", cfg)
    assert W._timm_cached_file(cfg) is None
    hint = W.uncached_weights_hint(spec)
    assert hint is not None and f"`hf download org/clip --revision {repo.sha} " in hint
    assert '--include "open_clip_model.safetensors" --include "open_clip_pytorch_model.bin"`' in hint
    path = hf_hub_download("org/clip", "open_clip_model.safetensors")  # at main: refs/main -> the commit
    assert W._timm_cached_file(cfg) == Path(path) and W.uncached_weights_hint(spec) is None
    assert W._timm_cached_file({**cfg, "hf_hub_id": "org/clip@0123456789abcdef0123456789abcdef01234567"}) is None
    # the default file (pytorch_model.bin, safetensors first) is model.safetensors: an open_clip file is not it
    assert W._timm_cached_file({"hf_hub_id": "org/clip"}) is None


# --- done when: bench run against the hub, then offline with no request ---------------------------------------


@pytest.mark.slow
def test_bench_run_against_the_hub_then_offline_with_no_request(hf_online, tiny_repo, tmp_path):
    shards, repo = publish(hf_online, tiny_repo)
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0"}
    cmd = [
        sys.executable, "-m", "bench", "run", "--models", "tf_efficientnet_lite0", "--dataset", "tiny-imagenet",
        "--no-efficiency", "--no-progress", "--device", "cpu", "--results-dir", str(tmp_path / "results"), "--json",
    ]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(hf_online.fetched(repo)) == sorted(["README.md", "dataset_infos.json", *shards["valid"]])
    transferred = hf_online.sent
    result = json.loads(next((tmp_path / "results").rglob("*.json")).read_text())
    assert result["accuracy"]["n"] + result["accuracy"]["n_failed"] == len(hf_repo.tiny_rows())
    hf_online.reset()
    env["HF_HUB_OFFLINE"] = "1"
    rerun = [*cmd[:-3], "--results-dir", str(tmp_path / "again"), "--json"]
    again = subprocess.run(rerun, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert hf_online.requests == []
    again_result = json.loads(next((tmp_path / "again").rglob("*.json")).read_text())
    assert again_result["accuracy"]["restricted"] == result["accuracy"]["restricted"]
    print(f"first run: {transferred} bytes from the hub; offline rerun: 0 requests")
