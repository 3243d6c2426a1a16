"""Transfer datasets and their split conventions, as data (repo ids, split names, how val is held out).

`val` says where the validation split comes from, each as its anchor does it:
- `own:<split>`: the dataset's own validation split (Oxford Flowers-102, as BiT / VTAB use it);
- `tail:<fraction>`: the last fraction of train (CIFAR: the last 10 %, VTAB's train[90%:]);
- `stratified:<fraction>`: a fixed class-stratified held-out fraction of train, for sets stored sorted by
  class, where a tail would hold only the last classes (Tiny ImageNet, Pets, Food-101, DTD);
- `digits`: scikit-learn digits has one pool of 1,797 images: a fixed class-stratified 60/20/20
  train/val/test split (bench.transfer.splits.digits_split).
`headline` is the metric a table leads with: mean per-class accuracy for Flowers and Pets (BYOL / SimCLR
tables), top-1 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DatasetUnavailableError


@dataclass(frozen=True)
class Preset:
    name: str
    repo: str | None  # Hugging Face `datasets` repo id (None: shipped with a library)
    train: str  # the split the train and val parts come from
    test: str  # the split scored once, at the end
    val: str  # own:<split> | tail:<fraction> | stratified:<fraction> | digits
    label_column: str | None = None  # the ClassLabel column when there are several (CIFAR-100: fine_label)
    headline: str = "top1"  # top1 | mean_per_class
    note: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "digits",
            None,
            "all",
            "all",
            "digits",
            note="scikit-learn load_digits, offline; fixed 60/20/20 class-stratified split",
        ),
        Preset("tiny-imagenet", "zh-plus/tiny-imagenet", "train", "valid", "stratified:0.1", note="official val as test"),
        Preset("cifar10", "uoft-cs/cifar10", "train", "test", "tail:0.1", note="val = last 10% of train (VTAB)"),
        Preset(
            "cifar100",
            "uoft-cs/cifar100",
            "train",
            "test",
            "tail:0.1",
            label_column="fine_label",
            note="val = last 10% of train (VTAB)",
        ),
        Preset(
            "flowers102",
            "dpdl-benchmark/oxford_flowers102",
            "train",
            "test",
            "own:validation",
            headline="mean_per_class",
            note="own val",
        ),
        Preset(
            "pets",
            "timm/oxford-iiit-pet",
            "train",
            "test",
            "stratified:0.2",
            headline="mean_per_class",
            note="trainval 80/20 (VTAB)",
        ),
        Preset(
            "food101", "ethz/food101", "train", "validation", "stratified:0.1", note="official test is the 'validation' split"
        ),
        Preset("dtd", "tanganke/dtd", "train", "test", "stratified:0.1"),
    )
}

GENERIC_VAL = "stratified:0.1"


def resolve(dataset: str) -> Preset:
    """A preset by name, or a generic `owner/name` hub repo (train / test splits, stratified 10 % val)."""
    if dataset in PRESETS:
        return PRESETS[dataset]
    if "/" in dataset and not dataset.startswith(("/", ".", "~")) and dataset.count("/") == 1:
        return Preset(dataset, dataset, "train", "test", GENERIC_VAL, note="generic hub repo")
    import difflib

    close = difflib.get_close_matches(dataset, list(PRESETS), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise DatasetUnavailableError(
        f"unknown transfer dataset {dataset!r}: use one of {', '.join(PRESETS)} or a Hugging Face repo id owner/name.{hint}"
    )


def parse_val(rule: str) -> tuple[str, str | float]:
    """('own', split) | ('tail', fraction) | ('stratified', fraction) | ('digits', '')."""
    kind, _, arg = rule.partition(":")
    if kind == "own":
        return kind, arg
    if kind in ("tail", "stratified"):
        return kind, float(arg)
    return kind, arg
