"""A Hugging Face dataset repository in the real layout, to publish on the local hub (tests/hub_server.py).

The repository is written with `datasets` itself (parquet shards named as on the hub, a README card
whose YAML is datasets' own `_to_yaml_dict`, or, as zh-plus/tiny-imagenet has it, a card with `configs:`
only and the features and split sizes in `dataset_infos.json`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import fixtures as F

from bench.data import labels as L
from bench.data.datasets import samples_dir


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


def write_repo(
    root: Path, kind: str = "tiny", card: bool = True, infos_json: bool = False, plain_parquet: bool = False
) -> dict[str, list[str]]:
    """A repo like zh-plus/tiny-imagenet (kind="tiny": train / valid / test) or ILSVRC/imagenet-1k (train / validation / test).

    Returns split -> repo paths of its shards. Every split holds the same rows, cut into a different number of shards.
    `card`: a README with the features and split sizes in its `dataset_info` (`infos_json`: in dataset_infos.json,
    the card keeping only `configs:`, as zh-plus/tiny-imagenet has it). `plain_parquet`: shards without datasets'
    schema metadata, so that the ClassLabel names can only come from the card or dataset_infos.json.
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
            if plain_parquet:
                import pyarrow.parquet as pq

                pq.write_table(pq.read_table(root / rel).replace_schema_metadata(None), root / rel)
            out[split].append(rel)
    (root / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    splits = hfds.SplitDict()
    for split in out:
        splits.add(hfds.SplitInfo(name=split, num_examples=len(rows)))
    info = hfds.DatasetInfo(features=features, splits=splits)
    if card:
        header: dict = {"configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in out]}]}
        if not infos_json:
            header = {"dataset_info": info._to_yaml_dict(), **header}
        (root / "README.md").write_text("---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n# fixture\n", encoding="utf-8")
    if infos_json:
        from datasets.utils.py_utils import asdict  # what datasets writes into dataset_infos.json

        (root / "dataset_infos.json").write_text(json.dumps({"default": asdict(info)}))
    return out


def files_dict(root: Path) -> dict[str, bytes]:
    """repo path -> content, to publish on the local hub."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files_of(root)}


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
