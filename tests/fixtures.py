"""Fixture datasets generated in the real on-disk formats (HF parquet, Stanford folder, ImageFolder).

Built from the bundled real photos, so a real model gives known answers on them.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bench.data import labels as L
from bench.data.datasets import samples_dir

# The bundled photos whose class is one of Tiny ImageNet's 200.
TINY_PHOTOS = {
    "chelsea.jpg": "n02123045",  # tabby, tabby cat
    "coffee.jpg": "n07920052",  # espresso
    "rocket.jpg": "n04008634",  # projectile, missile
    "grace_hopper.jpg": "n03763968",  # military uniform
}


def jpeg_bytes(img: Image.Image, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def tiny_photo_bytes(size: int | None = 64) -> list[tuple[str, str, bytes]]:
    """(file name, wnid, JPEG bytes) for the four photos, downscaled to size x size (None: as they are)."""
    out = []
    for name, wnid in TINY_PHOTOS.items():
        if size is None:
            out.append((name, wnid, (samples_dir() / name).read_bytes()))
            continue
        img = Image.open(samples_dir() / name).convert("RGB").resize((size, size), Image.BICUBIC)
        out.append((name, wnid, jpeg_bytes(img)))
    space = L.tiny_imagenet()
    return sorted(out, key=lambda t: space.index[t[1]])


def write_hf_parquet(root: Path, items: list[tuple[str, str, bytes]], split: str = "valid") -> Path:
    """A local copy in the layout of `zh-plus/tiny-imagenet`: README.md features + data/<split>-*.parquet."""
    import datasets as hfds

    wnids = list(L.tiny_imagenet().wnids)
    features = hfds.Features({"image": hfds.Image(), "label": hfds.ClassLabel(names=wnids)})
    ds = hfds.Dataset.from_dict(
        {"image": [{"bytes": b, "path": None} for _, _, b in items], "label": [wnids.index(w) for _, w, _ in items]},
        features=features,
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    names = "\n".join(f"          '{i}': {w}" for i, w in enumerate(wnids))
    (root / "README.md").write_text(
        "---\ndataset_info:\n  features:\n  - name: image\n    dtype: image\n  - name: label\n    dtype:\n"
        f"      class_label:\n        names:\n{names}\n  splits:\n  - name: {split}\n    num_examples: {len(items)}\n    num_bytes: {sum(len(b) for _, _, b in items)}\n"
        f"configs:\n- config_name: default\n  data_files:\n  - split: {split}\n    path: data/{split}-*\n---\n"
        "# tiny-imagenet fixture\n",
        encoding="utf-8",
    )
    return root


def write_stanford(root: Path, items: list[tuple[str, str, bytes]]) -> Path:
    """The Stanford `tiny-imagenet-200/` layout: val/images/*.JPEG + val/val_annotations.txt, wnids.txt."""
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True, exist_ok=True)
    (base / "wnids.txt").write_text("\n".join(L.tiny_imagenet().wnids) + "\n")
    lines = []
    for i, (_, wnid, data) in enumerate(items):
        fname = f"val_{i}.JPEG"
        (base / "val" / "images" / fname).write_bytes(data)
        lines.append(f"{fname}\t{wnid}\t0\t0\t63\t63")
        train = base / "train" / wnid / "images"
        train.mkdir(parents=True, exist_ok=True)
        (train / f"{wnid}_0.JPEG").write_bytes(data)
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return base


def write_image_folder(root: Path, items: list[tuple[str, str, bytes]]) -> Path:
    """An ImageFolder of wnid directories (the standard ImageNet val layout)."""
    for i, (_, wnid, data) in enumerate(items):
        d = root / wnid
        d.mkdir(parents=True, exist_ok=True)
        (d / f"img_{i}.JPEG").write_bytes(data)
    return root


def awkward_images() -> dict[str, bytes]:
    """Images in the modes that occur in the wild, plus a truncated JPEG."""
    base = Image.open(samples_dir() / "coffee.jpg").resize((64, 64))
    out = {}
    buf = io.BytesIO()
    base.convert("L").save(buf, "JPEG")
    out["gray.jpg"] = buf.getvalue()
    buf = io.BytesIO()
    base.convert("CMYK").save(buf, "JPEG")
    out["cmyk.jpg"] = buf.getvalue()
    buf = io.BytesIO()
    base.convert("RGBA").save(buf, "PNG")
    out["rgba.png"] = buf.getvalue()
    pal = base.convert("P", palette=Image.ADAPTIVE)
    pal.info["transparency"] = 0
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=0)
    out["palette.png"] = buf.getvalue()
    full = jpeg_bytes(base)
    out["truncated.jpg"] = full[: len(full) // 2]
    return out


if __name__ == "__main__":  # `python tests/fixtures.py tiny-hf DIR`: the fixture for scripts/check.sh
    import argparse

    parser = argparse.ArgumentParser(description="write a fixture dataset built from the bundled real photos")
    parser.add_argument("layout", choices=["tiny-hf", "tiny-stanford", "tiny-imagefolder"])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    writer = {"tiny-hf": write_hf_parquet, "tiny-stanford": write_stanford, "tiny-imagefolder": write_image_folder}[args.layout]
    print(writer(args.out, tiny_photo_bytes()))


def fixed_budget(warmup: int = 1, repeats: int = 3, iters: int = 2, latency: int = 10):
    """A timing Budget of fixed step counts and no time thresholds (a 0 s cap ends warm-up once its minimum
    has run, a 0 s repeat is never short): tests get the same number of calls on any machine, however loaded."""
    from bench.measure.timing import Budget

    return Budget(
        warmup_min_iters=warmup,
        warmup_max_iters=warmup,
        warmup_max_s=0.0,
        settle_window=1,
        settle_tol=0.05,
        repeats=repeats,
        min_repeat_s=0.0,
        min_iters=iters,
        latency_budget_s=0.0,
        latency_min_iters=latency,
        latency_max_iters=latency,
    )
