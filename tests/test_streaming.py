"""`--streaming`: the same n and per-sample predictions as the materialised path, without a local copy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import hf_repo
import numpy as np
import pytest

from bench.cli import main
from bench.data import datasets as D
from bench.data import hub_files as H
from bench.data import streaming as S
from bench.measure import distributed as dist

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory) -> Path:
    """A local copy of a zh-plus/tiny-imagenet-like repo: train/valid/test shards, README card, one truncated JPEG in valid."""
    root = tmp_path_factory.mktemp("tiny-repo")
    hf_repo.write_repo(root, "tiny")
    return root


def _run(results: Path, data_dir: Path, *extra: str) -> tuple[dict, dict]:
    code = main(
        [
            "run",
            "--models",
            "tf_efficientnet_lite0",
            "--dataset",
            "tiny-imagenet",
            "--data-dir",
            str(data_dir),
            "--no-efficiency",
            "--no-progress",
            "--device",
            "cpu",
            "--results-dir",
            str(results),
            *extra,
        ]
    )
    assert code == 0
    result = json.loads(next(results.rglob("*.json")).read_text())
    return result, dict(np.load(next(results.rglob("*.npz"))))


@pytest.mark.parametrize("limit", [None, 5])
def test_streaming_equals_materialised(tmp_path, tiny_repo, limit):
    extra = ["--limit", str(limit)] if limit else []
    mat, mat_samples = _run(tmp_path / "materialised", tiny_repo, *extra)
    st, st_samples = _run(tmp_path / "streamed", tiny_repo, "--streaming", *extra)
    n = limit or len(hf_repo.tiny_rows())
    assert mat["accuracy"]["n"] + mat["accuracy"]["n_failed"] == n  # the truncated JPEG is a failed sample, in both
    for k in ("n", "n_failed", "restricted", "full"):
        assert st["accuracy"][k] == mat["accuracy"][k], k
    assert [(f["index"], f["error"]) for f in st["accuracy"]["failed"]] == [
        (f["index"], f["error"]) for f in mat["accuracy"]["failed"]
    ]
    assert st["protocol_hash"] == mat["protocol_hash"]  # same n and the same sample indices
    assert st_samples.keys() == mat_samples.keys()
    for k in st_samples:
        np.testing.assert_array_equal(st_samples[k], mat_samples[k], err_msg=k)
    assert st["dataset"]["streaming"] is True and mat["dataset"]["streaming"] is False
    assert st["dataset"]["size"] == mat["dataset"]["size"] == len(hf_repo.tiny_rows())


@pytest.mark.parametrize("world", [2, 3])
def test_ranks_stream_the_strided_shards_of_the_materialised_path(tiny_repo, world):
    """split_dataset_by_node(strategy="examples") gives rank r the positions r, r+W, ...: dist.shard's split."""
    import torch

    from bench import models as M
    from bench.data import transforms as T

    spec = M.resolve("tf_efficientnet_lite0")
    ts = T.resolve(spec, torch.nn.Identity(), "fixed", {})
    streamed = S.load("tiny-imagenet", None, tiny_repo)
    n = len(streamed)
    for indices in (list(range(n)), D.stratified(streamed.labels, 5)):
        seen = []
        for rank in range(world):
            streamed.rank, streamed.world_size = rank, world
            pipe = S.build(streamed, indices, ts, "cpu", 2, 2, "cpu")
            got = [int(i) for _, _, idx, _ in pipe.batches for i in idx]
            assert got == [i for i in indices if i % world == rank]
            if indices == list(range(n)):
                assert got == dist.shard(indices, dist.DistInfo(rank, world))
            seen += got
        assert sorted(seen) == indices


def test_streaming_index_equals_the_materialised_dataset(tiny_repo):
    streamed = S.load("tiny-imagenet", "valid", tiny_repo)
    materialised = D.load("tiny-imagenet", "valid", tiny_repo)
    assert streamed.labels == materialised.labels and streamed.ids() == materialised.ids()
    assert streamed.label_space.wnids == materialised.label_space.wnids


def test_streaming_leaves_no_local_copy(tmp_path, tiny_repo, monkeypatch):
    """The materialised path writes Arrow files into the datasets cache; the stream writes none."""
    import datasets.config

    cache = tmp_path / "datasets-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    repo = tmp_path / "repo"
    shutil.copytree(tiny_repo, repo)  # a path the session's other tests have not prepared
    streamed = S.load("tiny-imagenet", None, repo)
    cells = [ex["image"]["bytes"] for ex in streamed.stream()]
    assert len(cells) == len(streamed)
    assert not list(cache.rglob("*.arrow"))
    D.load("tiny-imagenet", None, repo)
    assert list(cache.rglob("*.arrow"))  # the control: materialising does copy


def test_streaming_reads_the_cached_split_offline(tmp_path, hf_online, monkeypatch, capsys):
    """From the hub: online it streams hf:// URLs of the split's files only; offline, the cached split in place."""
    from hub_server import go_offline

    root = tmp_path / "repo"
    shards = hf_repo.write_repo(root, "imagenet")
    repo = hf_online.add("datasets", "ILSVRC/imagenet-1k", hf_repo.files_dict(root))
    streamed = S.load("imagenet-1k")
    assert streamed.files == [f"hf://datasets/ILSVRC/imagenet-1k@{repo.sha}/{p}" for p in shards["validation"]]
    # only the card was downloaded whole; of the shards, the index pass read byte ranges
    assert hf_online.fetched(repo)[0] == "README.md"
    assert all(r.range for r in hf_online.requests if r.path.startswith("/cdn/"))
    fetched = D.load("imagenet-1k")  # the materialised path fills the cache with the split
    go_offline(monkeypatch)
    hf_online.reset()
    offline = S.load("imagenet-1k")
    assert hf_online.requests == []
    assert all(Path(f).is_file() for f in offline.files) and len(offline.files) == len(shards["validation"])
    assert offline.labels == fetched.labels == streamed.labels and offline.ids() == fetched.ids() == streamed.ids()


@pytest.mark.parametrize(
    "args,match",
    [
        (["--dataset", "samples"], "--streaming reads HF parquet datasets"),
        (["--dataset", "imagenet-1k", "--data-dir", "{stanford}"], "holds no parquet files; drop --streaming"),
    ],
)
def test_streaming_a_layout_that_is_not_parquet_is_a_usage_error(tmp_path, capsys, args, match):
    (tmp_path / "n01440764").mkdir()
    (tmp_path / "n01440764" / "x.JPEG").write_bytes(b"")
    args = [a.replace("{stanford}", str(tmp_path)) for a in args]
    code = main(
        [
            "run",
            "--models",
            "tf_efficientnet_lite0",
            "--streaming",
            "--no-efficiency",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "r"),
            *args,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_process_gloo_streaming_equals_single_process_materialised(tmp_path, tiny_repo):
    torchrun = shutil.which("torchrun", path=str(BIN))
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    args = [
        "-m",
        "bench",
        "run",
        "--models",
        "tf_efficientnet_lite0",
        "--dataset",
        "tiny-imagenet",
        "--data-dir",
        str(tiny_repo),
        "--no-efficiency",
        "--no-progress",
        "--device",
        "cpu",
    ]
    single = subprocess.run(
        [sys.executable, *args, "--results-dir", str(tmp_path / "one")], capture_output=True, text=True, env=env
    )
    assert single.returncode == 0, single.stderr[-3000:]
    multi = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", *args, "--streaming", "--results-dir", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert multi.returncode == 0, multi.stderr[-3000:]
    one = json.loads(next((tmp_path / "one").rglob("*.json")).read_text())
    two = json.loads(next((tmp_path / "two").rglob("*.json")).read_text())
    assert two["run"]["world_size"] == 2 and two["dataset"]["streaming"] is True
    assert one["protocol_hash"] == two["protocol_hash"]
    for k in ("n", "n_failed", "restricted", "full"):
        assert one["accuracy"][k] == two["accuracy"][k], k
    a, b = np.load(next((tmp_path / "one").rglob("*.npz"))), np.load(next((tmp_path / "two").rglob("*.npz")))
    for k in ("index", "target", "full_top5", "restricted_top5"):
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_allclose(a["nll_full"], b["nll_full"], rtol=1e-4)  # batch composition differs between the runs


def test_split_files_urls_are_pinned_to_the_commit():
    sha = "0123456789abcdef0123456789abcdef01234567"
    sf = H.SplitFiles("ILSVRC/imagenet-1k", sha, "validation", [], [H.RepoFile("data/validation-00000-of-00014.parquet")], [])
    assert sf.urls() == [f"hf://datasets/ILSVRC/imagenet-1k@{sha}/data/validation-00000-of-00014.parquet"]


def test_auto_on_cuda_streams_through_the_cpu_path_its_key_names(tiny_repo):
    """`auto` is the faithful CPU path (loaders.choose): a stream of JPEGs on CUDA used to pick GPU decode, so the
    key and run.data_path said cpu while accuracy.data_path said gpu."""
    import torch

    from bench import models as M
    from bench.data import loaders
    from bench.data import transforms as T

    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), torch.nn.Identity(), "fixed", {})
    streamed = S.load("tiny-imagenet", "valid", tiny_repo)
    pipe = S.build(streamed, list(range(4)), ts, "cuda", 2, 0, "auto")  # nothing runs on CUDA until iterated
    assert pipe.data_path == loaders.choose("auto", "cuda", streamed) == "cpu" and pipe.resize_kernel == "pil"
    gpu = S.build(streamed, list(range(4)), ts, "cuda", 2, 0, "gpu")
    assert (gpu.data_path, gpu.resize_kernel) == ("gpu", "tensor-float32-round")
