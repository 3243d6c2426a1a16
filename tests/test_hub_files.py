"""Only the requested split's files are fetched from a Hugging Face dataset repository.

The selection is checked on the recorded file listings of the real ILSVRC/imagenet-1k and
zh-plus/tiny-imagenet repositories (tests/data/*.files.txt), and end to end on a repository in the
real layout served by the local hub (tests/hub_server.py) to the real huggingface_hub client.
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


@pytest.fixture(scope="module")
def repos(tmp_path_factory, hf_imagenet_repo) -> dict[str, tuple[Path, dict[str, list[str]]]]:
    """The repositories, written once: kind -> (folder, split -> shard paths)."""
    out = {"imagenet": hf_imagenet_repo}
    for kind, card in (("tiny", True), ("tiny-nocard", False)):
        root = tmp_path_factory.mktemp(kind)
        out[kind] = (root, hf_repo.write_repo(root, "tiny", card=card))
    return out


def _publish(hub, repos, kind: str, repo_id: str):
    root, shards = repos[kind]
    return root, shards, hub.add("datasets", repo_id, hf_repo.files_dict(root))


def _sizes(root: Path, paths) -> int:
    return sum(os.path.getsize(root / p) for p in paths)


@pytest.mark.parametrize(
    "dataset,kind,repo_id,split",
    [
        ("tiny-imagenet", "tiny", "zh-plus/tiny-imagenet", "valid"),
        ("imagenet-1k", "imagenet", "ILSVRC/imagenet-1k", "validation"),
    ],
)
def test_load_fetches_only_the_split_and_keeps_classlabels(hf_online, repos, capsys, dataset, kind, repo_id, split):
    root, shards, repo = _publish(hf_online, repos, kind, repo_id)
    images = D.load(dataset)
    fetched = hf_online.fetched(repo)
    assert sorted(fetched) == sorted(["README.md", *shards[split]])  # train and test never asked for
    assert hf_online.sent_for(repo, "README.md") + sum(hf_online.sent_for(repo, p) for p in shards[split]) == _sizes(
        root, shards[split] + ["README.md"]
    )
    # the same rows as the source, in shard order, with labels mapped through the card's ClassLabel
    rows = hf_repo.tiny_rows() if kind == "tiny" else hf_repo.imagenet_rows()
    space = images.label_space
    assert len(images) == len(rows) and images.source == f"hf:{repo_id}@{repo.sha[:12]}"
    if kind == "tiny":
        from bench.data import labels as L

        assert [space.wnids[y] for y in images.labels] == [L.tiny_imagenet().wnids[y] for _, y, _ in rows]
    else:
        assert images.labels == [y for _, y, _ in rows]
        assert images.ids() == [p for _, _, p in rows]
    assert [images.raw(i) for i in range(len(images))] == [b for b, _, _ in rows]
    err = capsys.readouterr().err
    split_bytes = _sizes(root, shards[split])
    assert f"{len(shards[split])} of {len(hf_repo.files_of(root))} files, {H.human(split_bytes)}" in err
    assert f"downloaded {H.human(split_bytes)}, 0 B already cached; verified by sha256" in err


def test_second_load_transfers_nothing_and_offline_reads_the_cache(hf_online, repos, monkeypatch, capsys):
    from hub_server import go_offline

    root, shards, repo = _publish(hf_online, repos, "imagenet", "ILSVRC/imagenet-1k")
    first = D.load("imagenet-1k")
    hf_online.reset()
    D.load("imagenet-1k")
    assert hf_online.fetched(repo) == []  # cached files are not fetched again: only the listing is asked for
    assert "downloaded 0 B" in capsys.readouterr().err.splitlines()[-1]
    go_offline(monkeypatch)
    hf_online.reset()
    offline = D.load("imagenet-1k")
    assert hf_online.requests == []  # offline: not one request, the recorded listing and the snapshot suffice
    assert offline.labels == first.labels and [offline.raw(i) for i in range(len(offline))] == [
        first.raw(i) for i in range(len(first))
    ]
    assert len(shards["validation"]) == 2


def test_offline_without_cache_names_data_dir(hf_online, monkeypatch):
    from hub_server import go_offline

    go_offline(monkeypatch)
    with pytest.raises(DatasetUnavailableError, match=r"not in the HF hub cache.*offline.*--data-dir"):
        D.load("tiny-imagenet")


def test_corrupt_download_fails_the_sha256_check(hf_online, repos):
    _, shards, _ = _publish(hf_online, repos, "tiny", "zh-plus/tiny-imagenet")
    hf_online.switches.corrupt = {shards["valid"][1]}
    with pytest.raises(
        DatasetUnavailableError, match=r"valid-00001-of-00002.*sha256 .* differs from the hub's .*hf cache rm dataset/"
    ):
        D.load("tiny-imagenet")


def test_missing_sha256_falls_back_to_the_size_check(hf_online, repos, capsys):
    """A listing without the LFS oid (a mirror; the client's siblings parser raises KeyError 'sha256'): sizes."""
    _publish(hf_online, repos, "imagenet", "ILSVRC/imagenet-1k")
    hf_online.switches.no_sha256 = True
    D.load("imagenet-1k")
    err = capsys.readouterr().err
    assert "verified by size" in err and "KeyError" not in err


def test_without_a_card_the_parquet_metadata_gives_the_classlabel(hf_online, repos):
    root, shards, repo = _publish(hf_online, repos, "tiny-nocard", "zh-plus/tiny-imagenet")
    images = D.load("tiny-imagenet")
    assert sorted(hf_online.fetched(repo)) == sorted(shards["valid"])  # no README to fetch
    assert len(images) == len(hf_repo.tiny_rows())


def test_sha256_helper_matches_hashlib(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(os.urandom(5_000_003))
    assert H.sha256_of(f, chunk=1 << 20) == hashlib.sha256(f.read_bytes()).hexdigest()
