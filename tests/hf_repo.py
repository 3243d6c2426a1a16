"""A Hugging Face dataset repository in the real layout, and a fake hub that serves it.

The repository is written with `datasets` itself (parquet shards named as on the hub, a README card
whose YAML is datasets' own `_to_yaml_dict`). The fake hub replaces the library boundary only:
`HfApi.dataset_info` (the listing, with sizes and LFS sha256 computed here with hashlib) and
`huggingface_hub.hf_hub_download` (copies a file into the HF hub cache layout and returns its path,
as the real one does after a download), and it records what was asked for.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import types
from pathlib import Path

import fixtures as F

from bench.data import labels as L
from bench.data.datasets import samples_dir

SHA = "0123456789abcdef0123456789abcdef01234567"


def tiny_rows() -> list[tuple[bytes, int, str | None]]:
    """(JPEG bytes, label in tiny order, stored path): the four photos at two sizes, plus a truncated JPEG."""
    wnids = list(L.tiny_imagenet().wnids)
    rows = []
    for size in (64, 96):
        rows += [(b, wnids.index(w), None) for _, w, b in F.tiny_photo_bytes(size)]
    broken = F.tiny_photo_bytes(64)[1]
    rows.insert(3, (broken[2][: len(broken[2]) // 2], wnids.index(broken[1]), None))
    return rows


def imagenet_rows() -> list[tuple[bytes, int, str | None]]:
    """The bundled photos with their ImageNet-1k (sorted wnid) labels and official-looking file names."""
    space = L.imagenet_1k()
    rows = []
    for k, line in enumerate((samples_dir() / "labels.tsv").read_text().splitlines()[1:]):
        name, wnid = line.split("\t")[:2]
        rows.append(((samples_dir() / name).read_bytes(), space.index[wnid], f"ILSVRC2012_val_{k + 1:08d}.JPEG"))
    return rows


def write_repo(root: Path, kind: str = "tiny", card: bool = True) -> dict[str, list[str]]:
    """A repo like zh-plus/tiny-imagenet (kind="tiny": train / valid / test) or ILSVRC/imagenet-1k (train / validation / test).

    Returns split -> repo paths of its shards. Every split holds the same rows, cut into a different number of shards.
    """
    import datasets as hfds
    import yaml

    if kind == "tiny":
        names, rows, val = list(L.tiny_imagenet().wnids), tiny_rows(), "valid"
    else:
        names, rows, val = (
            [f"class {i}" for i in range(1000)],
            imagenet_rows(),
            "validation",
        )  # the hub card's names are descriptions
    features = hfds.Features({"image": hfds.Image(), "label": hfds.ClassLabel(names=names)})
    ds = hfds.Dataset.from_dict(
        {"image": [{"bytes": b, "path": p} for b, _, p in rows], "label": [y for _, y, _ in rows]}, features=features
    )
    out: dict[str, list[str]] = {}
    for split, n in (("train", 3), (val, 2), ("test", 1)):
        out[split] = []
        for k in range(n):
            suffix = f"-{hashlib.sha1(f'{split}{k}'.encode()).hexdigest()[:16]}" if kind == "tiny" else ""
            rel = f"data/{split}-{k:05d}-of-{n:05d}{suffix}.parquet"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            ds.shard(n, k, contiguous=True).to_parquet(str(root / rel))
            out[split].append(rel)
    (root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    if card:
        info = hfds.DatasetInfo(features=features)._to_yaml_dict()
        header = {
            "dataset_info": info,
            "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in out]}],
        }
        (root / "README.md").write_text("---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n# fixture\n", encoding="utf-8")
    return out


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


class FakeHub:
    """Serves `root` as dataset `repo_id` at commit SHA; records requested files and transferred bytes."""

    def __init__(self, root: Path, repo_id: str, corrupt: set[str] = frozenset(), mask_sha256: bool = False):
        self.root, self.repo_id, self.corrupt, self.mask_sha256 = root, repo_id, set(corrupt), mask_sha256
        self.requested: list[str] = []
        self.transferred = 0
        self._lock = threading.Lock()  # hub_files downloads in threads: the counters must not lose updates
        self.listings = 0

    def install(self, monkeypatch) -> FakeHub:
        import huggingface_hub
        from huggingface_hub import HfApi

        hub = self

        def dataset_info(api, repo_id, revision=None, files_metadata=False, **kwargs):
            return hub.dataset_info(repo_id, revision, files_metadata)

        monkeypatch.setattr(HfApi, "dataset_info", dataset_info)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", self.hf_hub_download)
        return self

    def dataset_info(self, repo_id, revision=None, files_metadata=False):
        from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

        assert repo_id == self.repo_id, repo_id
        self.listings += 1
        siblings = []
        for p in files_of(self.root):
            data = p.read_bytes()
            rel = p.relative_to(self.root).as_posix()
            lfs = None
            if p.suffix == ".parquet":
                lfs = BlobLfsInfo(
                    size=len(data), sha256=None if self.mask_sha256 else hashlib.sha256(data).hexdigest(), pointer_size=134
                )
            siblings.append(RepoSibling(rfilename=rel, size=len(data), blob_id=hashlib.sha1(data).hexdigest(), lfs=lfs))
        return types.SimpleNamespace(id=repo_id, sha=SHA, siblings=siblings)

    def hf_hub_download(self, repo_id, filename, *, repo_type=None, revision=None, **kwargs):
        from huggingface_hub import constants
        from huggingface_hub.file_download import repo_folder_name

        assert repo_id == self.repo_id and repo_type == "dataset" and revision in (SHA, None), (repo_id, repo_type, revision)
        with self._lock:
            self.requested.append(filename)
        dest = (
            Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="dataset") / "snapshots" / SHA / filename
        )
        if not dest.exists():  # as the real one: a cached file is not transferred again
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.root / filename, dest)
            if filename in self.corrupt:  # same size, different bytes
                data = bytearray(dest.read_bytes())
                data[-100] ^= 0xFF
                dest.write_bytes(bytes(data))
            with self._lock:
                self.transferred += dest.stat().st_size
        return str(dest)
