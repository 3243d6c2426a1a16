"""Only the requested split's files are fetched from a Hugging Face dataset repository.

The selection is checked on the recorded file listings of the real ILSVRC/imagenet-1k and
zh-plus/tiny-imagenet repositories (tests/data/*.files.txt), and end to end on a repository in the
real layout served by a fake hub at the huggingface_hub boundary (tests/hf_repo.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import hf_repo
import pytest

from bench.data import datasets as D
from bench.data import hub_files as H
from bench.errors import DatasetUnavailableError

DATA = Path(__file__).parent / "data"


def recorded(name: str) -> list[H.RepoFile]:
    lines = (DATA / f"{name}.files.txt").read_text().splitlines()
    return [H.RepoFile(line) for line in lines if line and not line.startswith("#")]


def test_recorded_imagenet_listing_selects_exactly_the_14_validation_shards():
    listing = recorded("ILSVRC--imagenet-1k")
    assert len(listing) == 3 + 294 + 14 + 28
    patterns, files, config = H.choose("ILSVRC/imagenet-1k", "validation", listing, None)
    expected = [f"data/validation-{i:05d}-of-00014.parquet" for i in range(14)]  # written out by hand, in shard order
    assert [f.path for f in files] == expected
    assert not any("train" in f.path or "test" in f.path for f in files)
    assert config is None and patterns == ["data/validation-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*"]
    # the other splits resolve to their own shards, so the validation pick is not an accident of ordering
    assert len(H.choose("ILSVRC/imagenet-1k", "train", listing, None)[1]) == 294
    assert len(H.choose("ILSVRC/imagenet-1k", "test", listing, None)[1]) == 28


def test_card_configs_decide_the_split_files(tmp_path):
    """A card's `configs:` data_files win over datasets' default patterns (as in load_dataset)."""
    listing = recorded("ILSVRC--imagenet-1k")
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: validation\n    path: data/validation-0000[0-1]-*\n"
        "  - split: train\n    path: data/train-*\n---\n"
    )
    patterns, files, config = H.choose("ILSVRC/imagenet-1k", "validation", listing, H.card_data(tmp_path / "README.md"))
    assert config == "default" and patterns == ["data/validation-0000[0-1]-*"]
    assert [f.path for f in files] == ["data/validation-00000-of-00014.parquet", "data/validation-00001-of-00014.parquet"]


def test_recorded_tiny_listing_selects_the_valid_file():
    listing = recorded("zh-plus--tiny-imagenet")
    _, files, _ = H.choose("zh-plus/tiny-imagenet", "valid", listing, None)
    assert [f.path for f in files] == ["data/valid-00000-of-00001-70d52db3c749a935.parquet"]
    _, files, _ = H.choose("zh-plus/tiny-imagenet", "train", listing, None)
    assert [f.path for f in files] == ["data/train-00000-of-00001-1359597a978bc4fa.parquet"]


def test_a_split_the_repository_lacks_names_the_ones_it_has():
    with pytest.raises(DatasetUnavailableError, match=r"no split 'validation' \(its splits: train, valid\)"):
        H.choose("zh-plus/tiny-imagenet", "validation", recorded("zh-plus--tiny-imagenet"), None)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """A fresh HF hub cache per test, and the hub 'reachable' (the fake serves it)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return cache


def _sizes(root: Path, paths) -> int:
    return sum(os.path.getsize(root / p) for p in paths)


@pytest.mark.parametrize(
    "dataset,kind,repo_id,split",
    [
        ("tiny-imagenet", "tiny", "zh-plus/tiny-imagenet", "valid"),
        ("imagenet-1k", "imagenet", "ILSVRC/imagenet-1k", "validation"),
    ],
)
def test_load_fetches_only_the_split_and_keeps_classlabels(
    tmp_path, hub_cache, monkeypatch, capsys, dataset, kind, repo_id, split
):
    repo = tmp_path / "repo"
    shards = hf_repo.write_repo(repo, kind)
    hub = hf_repo.FakeHub(repo, repo_id).install(monkeypatch)
    images = D.load(dataset)
    assert hub.requested.count("README.md") == 1
    assert sorted(r for r in hub.requested if r != "README.md") == shards[split]
    assert not any(r in hub.requested for r in shards["train"] + shards["test"])  # train and test never asked for
    assert hub.transferred == _sizes(repo, shards[split] + ["README.md"])
    # the same rows as the source, in shard order, with labels mapped through the card's ClassLabel
    rows = hf_repo.tiny_rows() if kind == "tiny" else hf_repo.imagenet_rows()
    space = images.label_space
    assert len(images) == len(rows) and images.source == f"hf:{repo_id}@{hf_repo.SHA[:12]}"
    if kind == "tiny":
        from bench.data import labels as L

        assert [space.wnids[y] for y in images.labels] == [L.tiny_imagenet().wnids[y] for _, y, _ in rows]
    else:
        assert images.labels == [y for _, y, _ in rows]
        assert images.ids() == [p for _, _, p in rows]
    assert [images.raw(i) for i in range(len(images))] == [b for b, _, _ in rows]
    err = capsys.readouterr().err
    split_bytes = _sizes(repo, shards[split])
    assert f"{len(shards[split])} of {len(hf_repo.files_of(repo))} files, {H.human(split_bytes)}" in err
    assert f"downloaded {H.human(split_bytes)}, 0 B already cached; verified by sha256" in err


def test_second_load_transfers_nothing_and_offline_reads_the_cache(tmp_path, hub_cache, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shards = hf_repo.write_repo(repo, "imagenet")
    hub = hf_repo.FakeHub(repo, "ILSVRC/imagenet-1k").install(monkeypatch)
    first = D.load("imagenet-1k")
    transferred = hub.transferred
    D.load("imagenet-1k")
    assert hub.transferred == transferred  # cached files are not fetched again
    assert "downloaded 0 B" in capsys.readouterr().err.splitlines()[-1]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    listings = hub.listings
    offline = D.load("imagenet-1k")
    assert hub.listings == listings  # offline: no listing call, the cached snapshot is the listing
    assert offline.labels == first.labels and [offline.raw(i) for i in range(len(offline))] == [
        first.raw(i) for i in range(len(first))
    ]
    assert len(shards["validation"]) == 2


def test_offline_without_cache_names_data_dir(hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match=r"not in the HF hub cache.*--data-dir"):
        D.load("tiny-imagenet")


def test_corrupt_download_fails_the_sha256_check(tmp_path, hub_cache, monkeypatch):
    repo = tmp_path / "repo"
    shards = hf_repo.write_repo(repo, "tiny")
    hf_repo.FakeHub(repo, "zh-plus/tiny-imagenet", corrupt={shards["valid"][1]}).install(monkeypatch)
    with pytest.raises(
        DatasetUnavailableError, match=r"valid-00001-of-00002.*sha256 .* differs from the hub's .*hf cache delete"
    ):
        D.load("tiny-imagenet")


def test_masked_sha256_falls_back_to_the_size_check(tmp_path, hub_cache, monkeypatch, capsys):
    """Gated repos hide the LFS oid: the size is all the hub vouches for."""
    repo = tmp_path / "repo"
    hf_repo.write_repo(repo, "imagenet")
    hf_repo.FakeHub(repo, "ILSVRC/imagenet-1k", mask_sha256=True).install(monkeypatch)
    D.load("imagenet-1k")
    assert "verified by size" in capsys.readouterr().err


def test_without_a_card_the_parquet_metadata_gives_the_classlabel(tmp_path, hub_cache, monkeypatch):
    repo = tmp_path / "repo"
    shards = hf_repo.write_repo(repo, "tiny", card=False)
    hub = hf_repo.FakeHub(repo, "zh-plus/tiny-imagenet").install(monkeypatch)
    images = D.load("tiny-imagenet")
    assert sorted(hub.requested) == shards["valid"]  # no README to fetch
    assert len(images) == len(hf_repo.tiny_rows())


def test_gated_repository_names_the_token(hub_cache, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    class Response:  # what HfHubHTTPError reads from an HTTP response
        headers: dict = {}
        request = None
        status_code = 401

    def gated(*args, **kwargs):
        raise GatedRepoError(
            "401 Client Error. Cannot access gated repo for url https://huggingface.co/api/datasets/ILSVRC/imagenet-1k",
            response=Response(),
        )

    monkeypatch.setattr(HfApi, "dataset_info", gated)
    with pytest.raises(DatasetUnavailableError, match=r"gated.*HF_TOKEN.*--data-dir"):
        D.load("imagenet-1k")


def test_sha256_helper_matches_hashlib(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(os.urandom(5_000_003))
    assert H.sha256_of(f, chunk=1 << 20) == hashlib.sha256(f.read_bytes()).hexdigest()
