"""Labelled image sets whose classes are not WordNet ids: what a transfer task is trained and tested on.

Three sources, each giving an `ImageSet` (the same type the evaluation loaders read):
- `digits`: scikit-learn's `load_digits` (1,797 8x8 images, 10 classes), shipped with scikit-learn,
  the offline default; each image is scaled 0..16 -> 0..255 and encoded as a grey PNG (decoded to RGB
  by the loaders, like every other image);
- a Hugging Face repo with an Image column and a ClassLabel column (only the split's files are fetched,
  through `hub_files` as `bench run` does), or a local copy of one (`--data-dir`: parquet shards);
- an ImageFolder (`<root>/<split>/<class>/<image>`), classes sorted by folder name as torchvision's.
The label space is the ClassLabel's (or folder's) names in their own order.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import DatasetUnavailableError
from . import labels as label_spaces
from .datasets import IMAGE_SUFFIXES, ImageSet


def space(name: str, classes: list[str]) -> label_spaces.LabelSpace:
    """A label space of plain class names (the `wnids` slot holds the names: they are the classes' identity here)."""
    return label_spaces.LabelSpace(name, tuple(classes), tuple(classes))


@cache
def _digits_arrays():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def digits() -> ImageSet:
    """All 1,797 scikit-learn digits as PNG bytes, in `load_digits` order (the splits pick from these indices)."""
    import numpy as np
    from PIL import Image

    images, target = _digits_arrays()
    items: list[bytes] = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(np.round(img * (255.0 / 16.0)).astype(np.uint8), mode="L").save(buf, format="PNG")
        items.append(buf.getvalue())
    names = [f"digits_{i:04d}" for i in range(len(items))]
    return ImageSet(
        "digits",
        "all",
        space("digits", [str(c) for c in range(10)]),
        [int(t) for t in target],
        "sklearn.load_digits",
        items,
        None,
        names,
    )


def hub(repo_id: str, split: str, label_column: str | None = None, data_dir: str | Path | None = None) -> ImageSet:
    """One split of a `datasets` image-classification repo (or of its local parquet copy under `data_dir`)."""
    from .. import hub as hub_access
    from . import hub_files

    try:
        if data_dir is not None:
            sf = hub_files.local_split(data_dir, split, repo_id)
            fetched = hub_files.download(sf)
        else:
            fetched = hub_files.fetch_split(repo_id, split, offline=hub_access.offline())
        ds = hub_files.load_parquet(fetched.paths, split, fetched.split_files.features)
        hub_files.check_count(fetched.split_files, len(ds))
    except DatasetUnavailableError:
        raise
    except Exception as e:
        where = f"--data-dir {data_dir}" if data_dir is not None else f"the hub or its cache ({hub_access.hf_cache_dir()})"
        raise DatasetUnavailableError(
            f"could not load split {split!r} of {repo_id} from {where} ({type(e).__name__}: {str(e)[:200]}): "
            f"check the repo id and split, or pass --data-dir with a local copy"
        ) from e
    return from_hf(repo_id, split, ds, fetched.source, label_column)


def from_hf(name: str, split: str, ds: Any, source: str, label_column: str | None = None) -> ImageSet:
    """An HF Dataset with an Image column and a ClassLabel column -> ImageSet (images left undecoded)."""
    import datasets as hfds

    image_col = next((c for c, f in ds.features.items() if isinstance(f, hfds.Image)), None)
    class_cols = [c for c, f in ds.features.items() if isinstance(f, hfds.ClassLabel)]
    if image_col is None or not class_cols:
        raise DatasetUnavailableError(
            f"{source}: not an image-classification dataset (needs an Image column and a ClassLabel column; "
            f"found {', '.join(f'{c}: {type(f).__name__}' for c, f in ds.features.items())})"
        )
    if label_column is None:
        label_column = class_cols[0]
    if label_column not in class_cols:
        raise DatasetUnavailableError(f"{source}: no ClassLabel column {label_column!r} (has {', '.join(class_cols)})")
    classes = list(ds.features[label_column].names)
    labels = [-1 if x is None else int(x) for x in ds.data.column(label_column).to_pylist()]
    ds = ds.cast_column(image_col, hfds.Image(decode=False)).select_columns([image_col])
    return ImageSet(name, split, space(name, classes), labels, source, ds, hf_column=image_col)


def image_folder(root: str | Path, split: str, name: str | None = None) -> ImageSet:
    """`<root>/<split>/<class>/<image>`, classes in sorted folder order (torchvision ImageFolder's)."""
    base = Path(root).expanduser() / split
    if not base.is_dir():
        held = sorted(p.name for p in Path(root).expanduser().iterdir() if p.is_dir()) if Path(root).is_dir() else []
        raise DatasetUnavailableError(
            f"{root} has no {split!r} folder (folders: {', '.join(held) or 'none'}): expected <root>/<split>/<class>/<image>"
        )
    classes = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetUnavailableError(f"{base} holds no class folders: expected {base}/<class>/<image>")
    paths: list[str] = []
    labels: list[int] = []
    for c, cls in enumerate(classes):
        for p in sorted((base / cls).iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(str(p))
                labels.append(c)
    if not paths:
        raise DatasetUnavailableError(f"{base}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) under its class folders")
    label = name or Path(root).name
    return ImageSet(label, split, space(label, classes), labels, f"ImageFolder {base}", paths)


def is_image_folder(root: str | Path) -> bool:
    """A folder of <split>/<class>/ folders (not parquet shards)."""
    root = Path(root).expanduser()
    return root.is_dir() and not any(root.rglob("*.parquet")) and any(p.is_dir() for p in root.iterdir())
