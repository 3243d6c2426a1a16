"""leaderboards/robustness.md: ImageNet-C corruption errors, mCE and relative mCE of every result that has them,
and robustness.png (clean top-1 against mCE). Generated from the results store by `bench leaderboard`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..measure import corruptions as C
from . import tables as F

PAGE = "robustness.md"
PLOT = "robustness.png"
SUMMARY_HEADERS = ["rank", "model", "dataset/split", "n", "corruptions", "clean top-1", "mCE", "relative mCE", "mCE over"]
SUMMARY_RIGHT = {"rank", "n", "clean top-1", "mCE", "relative mCE", "mCE over"}
DETAIL_HEADERS = ["corruption", "s1", "s2", "s3", "s4", "s5", "mean", "CE", "relative CE", "AlexNet error"]
NOTES = """\
Each corruption of ImageNet-C (Hendrycks & Dietterich 2019) is applied on the fly to the model's own uint8
centre crop, seeded per image, and saved through a quality-85 JPEG as ImageNet-C's files were; errors are
restricted top-1 errors in percent. **CE** = Σₛ E(s,c) / Σₛ E_AlexNet(s,c) and **relative CE** =
Σₛ (E(s,c) − E_clean) / Σₛ (E_AlexNet(s,c) − E_AlexNet,clean), both need all five severities; **mCE** and
**relative mCE** average them over the 15 common corruptions (100 = AlexNet; lower is more robust). A result
that ran fewer corruptions shows its mCE over those it ran ("mCE over" < 15) and is not ranked. AlexNet's
errors and their source are in `bench/resources/imagenet_c_alexnet.csv`. They were measured on ImageNet-1k
validation: on other datasets (and on a handful of photos) the normalised figures are indicative only."""


@dataclass(frozen=True)
class Entry:
    label: str
    dataset: str
    split: str
    record: dict[str, Any]  # accuracy.corruptions
    top1: float | None

    @property
    def complete(self) -> bool:
        return bool(self.record.get("mce_complete"))


def label(result: dict[str, Any]) -> str:
    """Model id, with the weights / transform policy when they are not the defaults."""
    key = result["key"]
    policy = key["transform"].get("policy", "model") if isinstance(key.get("transform"), dict) else key.get("transform", "model")
    notes = [
        n
        for n in (
            key.get("weights") if key.get("weights") != "pretrained" else None,
            f"{policy} transform" if policy != "model" else None,
        )
        if n
    ]
    return f"{key['model']} ({', '.join(notes)})" if notes else str(key["model"])


def entries(results: list[dict[str, Any]]) -> list[Entry]:
    """Results with corruption figures, in page order: per dataset/split, complete mCE first (ascending), then the rest."""
    out = [
        Entry(
            label(r),
            r["key"]["dataset"],
            r["key"]["split"],
            r["accuracy"]["corruptions"],
            ((r.get("accuracy") or {}).get("restricted") or {}).get("top1"),
        )
        for r in results
        if ((r.get("accuracy") or {}).get("corruptions"))
    ]

    def order(e: Entry):
        mce = e.record.get("mce")
        return (
            e.dataset,
            e.split,
            not e.complete,
            mce is None,
            mce if mce is not None else 0.0,
            e.label,
            e.record.get("requested", ""),
        )

    return sorted(out, key=order)


def _ranks(found: list[Entry]) -> list[str]:
    """Competition ranks (1, 2, 2, 4) on mCE among complete entries of one dataset/split; others unranked."""
    ranks: list[str] = []
    prev: dict[tuple[str, str], tuple[float, int]] = {}  # per dataset/split: the last mCE ranked and its rank
    seen: dict[tuple[str, str], int] = {}
    for e in found:
        group = (e.dataset, e.split)
        if not e.complete or e.record.get("mce") is None:
            ranks.append(F.DASH)
            continue
        seen[group] = seen.get(group, 0) + 1
        mce = round(e.record["mce"], 4)
        if group in prev and prev[group][0] == mce:
            ranks.append(str(prev[group][1]))
        else:
            prev[group] = (mce, seen[group])
            ranks.append(str(seen[group]))
    return ranks


def _detail(e: Entry) -> str:
    ref, _, _ = C.alexnet()
    body = []
    for name, by_sev in e.record.get("errors", {}).items():
        values = [by_sev.get(str(s)) for s in C.SEVERITIES]
        mean = sum(values) / len(values) if all(v is not None for v in values) else None
        body.append(
            [name]
            + [F.num(v, 1) for v in values]
            + [
                F.num(mean, 2),
                F.num(e.record.get("ce", {}).get(name), 1),
                F.num(e.record.get("relative_ce", {}).get(name), 1),
                F.num(100 * ref[name] if name in ref else None, 1),
            ]
        )
    title = f"### {e.label} — {e.dataset}/{e.split}, corruptions {e.record.get('requested')}"
    meta = (
        f"n = {e.record.get('n')}, clean error {F.num(e.record.get('clean_error'), 2)}%, {F.text(e.record.get('library'))}, "
        f"data path {F.text(e.record.get('data_path'))}."
    )
    return "\n\n".join([title, meta, F.table(DETAIL_HEADERS, body, set(DETAIL_HEADERS) - {"corruption"})])


def render(results: list[dict[str, Any]]) -> str:
    found = entries(results)
    parts = [
        "# Robustness: ImageNet-C corruptions",
        F.GENERATED,
        f"{len(found)} result(s) with corruption figures (`bench run --corruptions ...`). [All leaderboards](README.md)",
    ]
    if not found:
        parts.append("No results with corruptions yet: run `bench run --models M --corruptions all`, then `bench leaderboard`.")
        return "\n\n".join(parts) + "\n"
    if _points(found):
        parts.append(f"![clean top-1 vs mCE]({PLOT})")
    body = [
        [
            rank,
            F.text(e.label),
            f"{e.dataset}/{e.split}",
            F.text(e.record.get("n")),
            F.text(e.record.get("requested")),
            F.num(e.top1, 2),
            F.num(e.record.get("mce"), 2),
            F.num(e.record.get("relative_mce"), 2),
            f"{e.record.get('mce_corruptions', 0)}/{len(C.COMMON)}",
        ]
        for rank, e in zip(_ranks(found), found)
    ]
    parts += [F.table(SUMMARY_HEADERS, body, SUMMARY_RIGHT), "## Error per corruption and severity (%)"]
    parts += [_detail(e) for e in found]
    parts += ["## Columns", NOTES]
    return "\n\n".join(parts) + "\n"


def _points(found: list[Entry]) -> list:
    from .plots import RobustPoint

    return [
        RobustPoint(f"{e.label} ({e.dataset})", float(e.top1), float(e.record["mce"]), e.complete)
        for e in found
        if e.top1 is not None and e.record.get("mce") is not None
    ]


def regenerate(results: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write robustness.md (+ robustness.png) when some result has corruption figures; otherwise write nothing."""
    from .plots import plot_robustness

    found = entries(results)
    if not found:
        return []
    out = Path(out_dir)
    written = [F.write(out / PAGE, render(results))]
    points = _points(found)
    if points:
        written.append(plot_robustness(points, out / PLOT, "Clean top-1 vs mCE (ImageNet-C corruptions)"))
    return written


INDEX_LINE = (PAGE, "Robustness to ImageNet-C corruptions (error per corruption and severity, mCE, relative mCE)")
