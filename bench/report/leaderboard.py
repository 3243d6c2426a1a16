"""Results + reference table -> markdown leaderboards (tabulate, github format) and PNG plots.

The pages under leaderboards/ are committed and never hand-edited, so every byte is a function
of the results and the package data: stable sorts, fixed float formats, no render time. Only
published.md also depends on the installed torchvision (its weights' meta), and says which.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..errors import ResultsError, left_out
from ..models import ModelId, reference, reported
from . import published as pub
from . import tables as F
from .tables import DASH, GENERATED, Rows

INDEX = "README.md"
PUBLISHED = "published.md"
YEARS_PLOT = "published-years.png"

# Columns of measured_table(), the unformatted rows behind a dataset page.
MEASURED_COLUMNS = [
    "dataset",
    "split",
    "rank",
    "model",
    "model_id",
    "weights",
    "transform",
    "top1",
    "top5",
    "top1_full",
    "top1_ci_low",
    "top1_ci_high",
    "n",
    "params_m",
    "gmacs",
    "img_s",
    "img_s_device",
    "img_s_precision",
    "img_s_batch",
    "latency_p50_ms",
    "gpu_peak_mb",
    "ref_top1",
    "ref_top5",
    "ref_source",
    "ref_protocol",
    "delta_top1",
    "delta_note",
    "real_top1",
    "real_n",
    "ref_real_top1",
    "delta_real",
    "delta_real_note",
    "date",
    "protocol_hash",
    "run",
    "limit",
    "shown_instead_of",
    "nll",
    "path",  # the calibration section reads each result's per-sample record
    "corruptions",  # the --corruptions set whose figures join the row (results.choices), and its record
    "corruptions_run",
    "mce",
    "relative_mce",
    "mce_corruptions",
]
_NUMERIC = [
    "top1",
    "top5",
    "top1_full",
    "top1_ci_low",
    "top1_ci_high",
    "n",
    "params",
    "gmacs",
    "img_s",
    "img_s_batch",
    "latency_p50_ms",
    "gpu_peak_mb",
    "real_top1",
    "real_n",
    "mce",
    "relative_mce",
    "mce_corruptions",
]

MEASURED_HEADERS = [
    "rank",
    "model",
    "top-1",
    "top-5",
    "top-1 (full)",
    "95% CI (top-1)",
    "n",
    "params (M)",
    "GMACs",
    "img/s",
    "latency p50 (ms)",
    "peak GPU mem (MB)",
    "reported top-1",
    "reported top-5",
    "reported by (protocol)",
    "Δ top-1",
    "date",
]
MEASURED_RIGHT = set(MEASURED_HEADERS) - {"model", "95% CI (top-1)", "reported by (protocol)", "date"}  # the numbers
PUBLISHED_HEADERS = [
    "rank",
    "model",
    "top-1",
    "top-5",
    "params (M)",
    "GMACs",
    "protocol",
    "extra data",
    "paper",
    "year",
    "source",
    "code",
]
PUBLISHED_RIGHT = {"rank", "top-1", "top-5", "params (M)", "GMACs", "year"}


# ---------------------------------------------------------------------------------------------
# Cells particular to the dataset pages (the shared formatting is bench.report.tables)


def _device(name: Any) -> str | None:
    """CPU names carry (R)/(TM) noise that only widens the column."""
    if F.missing(name) or not name:
        return None
    return re.sub(r"\s+", " ", re.sub(r"\((R|TM)\)", "", str(name))).strip()


def _timed_on(row: dict[str, Any]) -> str:
    """'NVIDIA H100, bf16, b256': what an img/s figure means depends on all three."""
    parts = [_device(row.get("img_s_device")), row.get("img_s_precision")]
    if not F.missing(row.get("img_s_batch")):
        parts.append(f"b{int(row['img_s_batch'])}")
    return ", ".join(str(p) for p in parts if not F.missing(p) and p)


def _throughput(row: dict[str, Any]) -> str:
    if F.missing(row.get("img_s")):
        return DASH
    timed = _timed_on(row)
    return f"{row['img_s']:.1f} ({timed})" if timed else f"{row['img_s']:.1f}"


def _interval(low: Any, high: Any) -> str:
    return DASH if F.missing(low) or F.missing(high) else f"{low:.2f}–{high:.2f}"


def _short_source(source: Any) -> str:
    """'torchvision ResNet50_Weights.IMAGENET1K_V2 meta' -> 'torchvision': the long form is on published.md."""
    if F.missing(source) or not source:
        return DASH
    for prefix in ("torchvision", "timm"):
        if str(source).startswith(prefix):
            return prefix
    return F.text(source)


def model_label(model_id: str, weights: Any, transform: Any, limit: Any = None) -> str:
    """The model id, plus the weights, transform policy and --limit when they are not the defaults: a
    subset's top-1 must never read as the split's."""
    notes = []
    if not F.missing(weights) and weights != "pretrained":
        notes.append(str(weights))
    if not F.missing(transform) and transform != "model":
        notes.append(f"{transform} transform")
    if not F.missing(limit):
        notes.append(f"--limit {int(limit)}")
    return f"{model_id} ({', '.join(notes)})" if notes else str(model_id)


# ---------------------------------------------------------------------------------------------
# Pages and names


def page_name(dataset: str, split: str) -> str:
    """`tiny-imagenet` for the dataset's default split, `<dataset>-<split>` for any other."""
    from ..data.datasets import KNOWN

    info = KNOWN.get(dataset)
    name = dataset if info is not None and split == info.default_split else f"{dataset}-{split}"
    return re.sub(r"[^A-Za-z0-9_.+-]", "-", name)


def _pages(df) -> list[tuple[str, str]]:
    """(dataset, split) pairs that have results: by dataset, its default split first, then by split."""
    if df.empty:
        return []
    pairs = {(str(d), str(s)) for d, s in zip(df["dataset"], df["split"])}
    return sorted(pairs, key=lambda p: (p[0], page_name(*p) != p[0], p[1]))


def _ranked(df, top1: str, top5: str, name: str, by: Sequence[str] = ()):
    """Sort best first and add competition ranks (1, 2, 2, 4) on `top1` within each `by` group.

    Ties are ordered by top-5 then name so that the order never depends on file order; rows
    without a top-1 come last, unranked.
    """
    import pandas as pd

    keys = [*by, top1, top5, name]
    out = df.sort_values(keys, ascending=[True] * len(by) + [False, False, True], na_position="last", kind="mergesort")
    ranks = (
        out.groupby(list(by))[top1].rank(method="min", ascending=False) if by else out[top1].rank(method="min", ascending=False)
    )
    # object dtype: an unranked row is None, not NaN, and a rank prints as 2, not 2.0
    out = out.assign(rank=pd.Series([None if F.missing(r) else int(r) for r in ranks], index=out.index, dtype=object))
    return out.reset_index(drop=True)


def measured_table(df):
    """The rows of the dataset pages before formatting: numbers as floats, rank per (dataset, split)."""
    import pandas as pd

    if df.empty:
        return pd.DataFrame(columns=MEASURED_COLUMNS)
    t = df[df["shown"].astype(bool)].copy() if "shown" in df.columns else df.copy()  # one run per model: results.choose
    for col in ("run", "limit", "complete", "corruptions", "corruptions_run", "mce", "relative_mce", "mce_corruptions"):
        if col not in t.columns:
            t[col] = None
    if "shown_instead_of" not in t.columns:
        t["shown_instead_of"] = [[] for _ in range(len(t))]
    t["limit"] = [
        None if c is not False else lim for lim, c in zip(t["limit"], t["complete"])
    ]  # a --limit that covered the split is no limit
    for col in _NUMERIC:
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float)
    t["model_id"] = t["model"]
    t["model"] = [model_label(m, w, tf, lim) for m, w, tf, lim in zip(t["model_id"], t["weights"], t["transform"], t["limit"])]
    t["params_m"] = t["params"] / 1e6
    refs = [_reported(r) for r in t.to_dict("records")]
    for col in REF_COLUMNS:
        t[col] = [r[col] for r in refs]
    for col in ("ref_top1", "ref_top5", "delta_top1", "ref_real_top1", "delta_real"):
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float)
    t = _ranked(t, "top1", "top5", "model", by=("dataset", "split"))
    return t[MEASURED_COLUMNS]


REF_COLUMNS = [
    "ref_top1",
    "ref_top5",
    "ref_source",
    "ref_protocol",
    "delta_top1",
    "delta_note",
    "ref_real_top1",
    "delta_real",
    "delta_real_note",
]


def _run_protocol(row: dict[str, Any], dataset: str | None = None) -> reference.RunProtocol:
    """The facts of a flattened result that the Δ rule needs (bench.models.reference.comparable)."""
    record: dict[str, Any] = {
        "key": {k: row.get(k) for k in ("dataset", "split", "weights", "transform")},
        "transform": row.get("transform_spec") if isinstance(row.get("transform_spec"), dict) else None,
        "dataset": {
            "limit": _clean(row.get("dataset_limit")),
            "size": _clean(row.get("dataset_size")),
            "source": _clean(row.get("dataset_source")),
        },
        "accuracy": {"n": _clean(row.get("n"))},
    }
    if dataset:
        record["key"]["dataset"] = dataset
    run = reference.RunProtocol.from_result(record)
    return run


def _clean(value: Any) -> Any:
    """NaN (pandas' missing) -> None; whole floats -> int (counts read back from a frame)."""
    if F.missing(value):
        return None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _figures(model_id: str, dataset: str, split: str) -> list:
    from ..errors import BenchError

    try:
        return reported.figures_for(str(model_id), dataset, split)
    except (BenchError, KeyError, ValueError):  # a model id the installed libraries no longer know has no figure
        return []


def _reported(row: dict[str, Any]) -> dict[str, Any]:
    """The reported figure set beside one result, and Δ when (and only when) the protocols are the same.

    The figure is the library's own for this page's dataset, at the run's input size when the library
    reports that size; a dataset nobody reports shows the ImageNet-1k figure, without Δ."""
    out: dict[str, Any] = dict.fromkeys(REF_COLUMNS)
    model, dataset, split = row["model_id"], str(row["dataset"]), str(row["split"])
    run = _run_protocol(row)
    figures = _figures(model, dataset, split) or _figures(model, *reference.IMAGENET)
    fig = reference.closest_figure(run, figures)
    if fig is not None:
        ok, reason = reference.comparable(run, fig)
        label = _short_source(fig.source) + ("" if (fig.dataset, fig.split) == (dataset, split) else f", {fig.dataset}")
        out.update(
            ref_top1=fig.top1,
            ref_top5=fig.top5,
            ref_source=fig.source,
            ref_protocol=f"{label}, {fig.protocol}",
            delta_top1=row["top1"] - fig.top1 if ok and not F.missing(row["top1"]) and fig.top1 is not None else None,
            delta_note=None if ok else reason,
        )
    if not F.missing(row.get("real_top1")):
        real_run = _run_protocol(row, dataset="imagenet-real")
        real = reference.closest_figure(real_run, _figures(model, "imagenet-real", split))
        if real is not None:
            ok, reason = reference.comparable(real_run, real)
            out.update(
                ref_real_top1=real.top1,
                delta_real=row["real_top1"] - real.top1 if ok else None,
                delta_real_note=None if ok else reason,
            )
    return out


def _delta(value: Any, note: Any) -> str:
    """Signed Δ, or a dash that says why there is none (when a figure is there to compare with)."""
    if not F.missing(value):
        return F.signed(value)
    if F.missing(note) or not note or str(note).startswith(("reported on", "no reported")):
        return DASH
    return f"{DASH} ({F.text(note)})"


MCE_HEADERS = ["mCE", "relative mCE"]


def _has_corruptions(table) -> bool:
    """The page shows the mCE columns when some row joins a --corruptions run."""
    return bool(table["corruptions"].notna().any()) if len(table) else False


def _mce(row: dict[str, Any], column: str) -> str:
    """mCE (or relative mCE) of the row's --corruptions run; over fewer than the 15 common corruptions it is
    partial and says over how many; a run with no complete corruption has none, and names its set."""
    from ..measure.corruptions import COMMON

    if F.missing(row["corruptions"]):
        return DASH
    if F.missing(row[column]):
        return f"{DASH} ({F.text(row['corruptions'])})"
    over = row["mce_corruptions"]
    partial = not F.missing(over) and int(over) < len(COMMON)
    return F.num(row[column], 2) + (f" ({int(over)} of {len(COMMON)})" if partial else "")


def _measured_rows(table, mce: bool = False) -> list[list[str]]:
    rows = []
    for r in table.to_dict("records"):
        rows.append(
            [
                F.integer(r["rank"]),
                F.text(r["model"]),
                F.num(r["top1"], 2),
                F.num(r["top5"], 2),
                F.num(r["top1_full"], 2),
                _interval(r["top1_ci_low"], r["top1_ci_high"]),
                F.integer(r["n"]),
                F.num(r["params_m"], 2),
                F.num(r["gmacs"], 3),
                F.text(_throughput(r)),
                F.num(r["latency_p50_ms"], 2),
                F.num(r["gpu_peak_mb"], 1),
                F.num(r["ref_top1"], 2),
                F.num(r["ref_top5"], 2),
                F.text(r["ref_protocol"]),
                _delta(r["delta_top1"], r["delta_note"]),
                *([_mce(r, "mce"), _mce(r, "relative_mce")] if mce else []),
                F.text(r["date"]),
            ]
        )
    return rows


def measured_headers(mce: bool = False) -> list[str]:
    """The dataset page's columns: with mCE and relative mCE before the date when the page has corruption runs."""
    return MEASURED_HEADERS[:-1] + (MCE_HEADERS if mce else []) + MEASURED_HEADERS[-1:]


# The raw value each dataset-page column sorts by on the site; a header not listed sorts by its cell text.
MEASURED_SORT = {
    "rank": "rank",
    "top-1": "top1",
    "top-5": "top5",
    "top-1 (full)": "top1_full",
    "95% CI (top-1)": "top1_ci_low",
    "n": "n",
    "params (M)": "params_m",
    "GMACs": "gmacs",
    "img/s": "img_s",
    "latency p50 (ms)": "latency_p50_ms",
    "peak GPU mem (MB)": "gpu_peak_mb",
    "reported top-1": "ref_top1",
    "reported top-5": "ref_top5",
    "Δ top-1": "delta_top1",
    "mCE": "mce",
    "relative mCE": "relative_mce",
    "date": "date",
}
PUBLISHED_SORT = {"rank": "rank", "top-1": "top1", "top-5": "top5", "params (M)": "params_m", "GMACs": "gmacs", "year": "year"}


def _rows(headers: Sequence[str], right: set[str], cells: list[list[str]], records: list[dict[str, Any]], sort: dict) -> Rows:
    values = [[None if h not in sort else _clean(r.get(sort[h])) for h in headers] for r in records]
    return Rows(list(headers), set(right), cells, values, records)


def measured_rows(table) -> Rows:
    """The dataset page's table: the same cells as the markdown page, with their raw sort values."""
    mce = _has_corruptions(table)
    return _rows(
        measured_headers(mce),
        MEASURED_RIGHT | set(MCE_HEADERS),
        _measured_rows(table, mce),
        table.to_dict("records"),
        MEASURED_SORT,
    )


def _real_rows(table) -> list[list[str]]:
    """ImageNet-ReaL top-1 of the results that have it (imagenet-1k validation with the official file names)."""
    has = table[table["real_top1"].notna()]
    return [
        [
            F.text(r["model"]),
            F.num(r["real_top1"], 2),
            F.integer(r["real_n"]),
            F.num(r["ref_real_top1"], 2),
            _delta(r["delta_real"], r["delta_real_note"]),
        ]
        for r in has.to_dict("records")
    ]


def _models_rows(table) -> list[list[str]]:
    """One row per distinct model id, in leaderboard order: what PWC showed beside a result."""
    rows, seen = [], set()
    for model_id in table["model_id"]:
        if model_id in seen:
            continue
        seen.add(model_id)
        info = reference.weight_info(model_id)
        rows.append(
            [
                F.text(model_id),
                F.text(info.paper),
                F.integer(info.year),
                F.text(f"{info.extra_data} ({reference.UNVERIFIED})" if info.data_unverified else info.extra_data),
                F.link("code", reference.code_url(model_id)),
            ]
        )
    return rows


def _pareto_points(table) -> list:
    """Models with both a top-1 and an img/s; random weights are left out, their accuracy is chance
    and would only flatten the axis that matters."""
    from .plots import Point

    has = table[table["img_s"].notna() & table["top1"].notna() & (table["weights"] != "random")]
    return [
        Point(r["model"], float(r["img_s"]), float(r["top1"]), _timed_on(r) or "unknown device") for r in has.to_dict("records")
    ]


COLUMN_NOTES = """\
- **top-1 / top-5**: percent correct under the restricted protocol (the model's logits limited to the
  classes this dataset has; the primary figure, used for the rank). **top-1 (full)**: argmax over all
  the model's classes. **95% CI**: Wilson interval of the restricted top-1; **n**: images evaluated.
- **params**, **GMACs** (batch 1, the model's eval input size), **img/s** (forward only, synthetic input;
  device, precision and batch in brackets), **latency p50** (batch 1) and **peak GPU mem**
  (torch max allocated) come from the same run as the accuracy.
- **reported top-1 / top-5**: what the weights' library reports on this dataset (timm's results tables at a
  pinned commit, torchvision's weights meta; see [published results](published.md)), at the run's input size
  when the library reports that size; for a dataset no library reports, the ImageNet-1k figure. **reported by
  (protocol)** names the source and the figure's input size, crop_pct and crop mode. **Δ top-1** = measured −
  reported, shown only when the run measured what the figure reports: the same dataset and whole split (no
  `--limit`, n = the split's size), the pretrained weights, the model's own transform with nothing overridden,
  and the figure's input size, crop_pct, crop mode, interpolation and mean/std; otherwise the dash says why.
- Ties share a rank (1, 2, 2, 4) and are ordered by top-5, then name. "—": not measured or not known."""
MCE_NOTES = """
- **mCE / relative mCE**: ImageNet-C corruption error of the same experiment's `bench run --corruptions` run (100 =
  AlexNet, lower is more robust; per corruption and severity on the [robustness page](robustness.md)). A corruption
  run of the same model, weights digest, images, transform, precision, label space, data path and device as the
  clean run joins its row; "(7 of 15)": an mCE over fewer corruptions than the 15 common ones."""


def render_dataset_page(df, dataset: str, split: str) -> str:
    """The markdown leaderboard of one dataset/split."""
    table = measured_table(df)
    table = table[(table["dataset"] == dataset) & (table["split"] == split)]
    name = page_name(dataset, split)
    parts = [
        f"# Leaderboard: {dataset} ({split})",
        GENERATED,
        f"{len(table)} result(s) measured by imagenet-bench on {dataset}/{split}, ranked by restricted top-1. "
        f"[All leaderboards]({INDEX}) · [Published results]({PUBLISHED})",
    ]
    protocols = sorted({p for p in table["protocol_hash"] if not F.missing(p)})
    if len(protocols) > 1:
        parts.append(
            f"> These rows come from {len(protocols)} protocols (the images evaluated, n or the transform "
            "policy differ): their ranks compare unlike measurements."
        )
    mce = _has_corruptions(table)
    parts.append(F.table(measured_headers(mce), _measured_rows(table, mce), MEASURED_RIGHT | set(MCE_HEADERS)))
    hidden = [
        (r["model"], r["run"], others)
        for r in table.to_dict("records")
        if isinstance(others := r["shown_instead_of"], list) and others
    ]
    if hidden:
        lines = [f"- {F.text(model)}: shows run {run}; not shown: " + "; ".join(others) for model, run, others in hidden]
        parts.append(
            "Where the results store holds several runs of a model, the row shows the one over the whole split "
            "(no `--limit`), with the model's own preprocessing, the most measurements, newest first:\n\n" + "\n".join(lines)
        )
    if _pareto_points(table):
        parts.append(f"![top-1 vs throughput, Pareto front dashed]({name}-pareto.png)")
    real = _real_rows(table)
    if real:
        parts += [
            "## ImageNet-ReaL",
            (
                "Top-1 of the same predictions scored against the ReaL label sets (Beyer et al. 2020, "
                "images without a valid label left out), beside timm's results-imagenet-real.csv; "
                "Δ under the same rule."
            ),
            F.table(
                ["model", "ReaL top-1", "n", "reported ReaL top-1", "Δ ReaL top-1"],
                real,
                {"ReaL top-1", "n", "reported ReaL top-1", "Δ ReaL top-1"},
            ),
        ]
    from .calibration import section as calibration_section

    calibration = calibration_section(table, name)  # only when some result stores the calibration record
    if calibration:
        parts.append(calibration)
    parts += ["## Models", F.table(["model", "paper", "year", "extra training data", "code"], _models_rows(table), {"year"})]
    parts += ["## Columns", COLUMN_NOTES + (MCE_NOTES if mce else "")]
    return "\n\n".join(parts) + "\n"


def render_index(df, extra_pages: Sequence[tuple[str, str]] = ()) -> str:
    """leaderboards/README.md: one line per dataset page, the published-results page, and `extra_pages`
    ((file, what it shows): robustness, sensitivity) when they were generated."""
    table = measured_table(df)
    parts = [
        "# Leaderboards",
        GENERATED,
        "Accuracy and cost of pretrained ImageNet classifiers measured by imagenet-bench, beside what their authors "
        "report. One page per dataset and split; regenerate with `bench leaderboard` (`make leaderboards`).",
    ]
    rows = []
    for dataset, split in _pages(df):
        t = table[(table["dataset"] == dataset) & (table["split"] == split)]
        best = t.iloc[0] if len(t) and not F.missing(t.iloc[0]["rank"]) else None
        dates = sorted(d for d in t["date"] if not F.missing(d))
        rows.append(
            [
                F.link(page_name(dataset, split), f"{page_name(dataset, split)}.md"),
                dataset,
                split,
                str(len(t)),
                F.text(best["model"]) if best is not None else DASH,
                F.num(best["top1"] if best is not None else None, 2),
                dates[-1] if dates else DASH,
            ]
        )
    if rows:
        parts.append(
            F.table(
                ["page", "dataset", "split", "results", "best model", "best top-1", "latest run"], rows, {"results", "best top-1"}
            )
        )
    else:
        parts.append("No results yet: run `bench run` (or `make bench`), then `bench leaderboard`.")
    parts.append(
        f"Published ImageNet-1k results (papers, torchvision and timm reference accuracies): [{PUBLISHED}]({PUBLISHED})."
    )
    parts += [f"{what}: [{page}]({page})." for page, what in extra_pages]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Published results


def _published_frame(rows: Sequence[pub.Reported]):
    import pandas as pd

    df = pd.DataFrame([asdict(r) for r in rows], columns=list(pub.Reported.__dataclass_fields__))
    for col in ("top1", "top5", "params_m", "gmacs"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return _ranked(df, "top1", "top5", "model")


def _published_cells(df) -> list[list[str]]:
    return [
        [
            F.integer(r["rank"]),
            F.text(r["model"]),
            F.num(r["top1"], 2),
            F.num(r["top5"], 2),
            F.num(r["params_m"], 2),
            F.num(r["gmacs"], 3),
            F.text(r["protocol"]),
            F.text(_extra_data_cell(r["extra_data"], r["extra_data_source"])),
            F.text(r["paper"]),
            F.integer(r["year"]),
            F.text(r["source"]),
            F.link("code", r["code"]),
        ]
        for r in df.to_dict("records")
    ]


def published_rows(rows: Sequence[pub.Reported]) -> Rows:
    """The published page's table (ranked by top-1): cells as on published.md, with raw sort values."""
    df = _published_frame(rows)
    return _rows(PUBLISHED_HEADERS, PUBLISHED_RIGHT, _published_cells(df), df.to_dict("records"), PUBLISHED_SORT)


def _render_published(rows: Sequence[pub.Reported], torchvision_version: str) -> str:
    df = _published_frame(rows)
    body = _published_cells(df)
    winners = [
        [
            F.text(w.get("year")),
            F.text(w.get("team")),
            F.text(w.get("model")),
            F.text(w.get("top5_error_test")),
            F.text(w.get("extra_data")),
            F.text(w.get("outside_data_entry")),
            F.text(" — ".join(x for x in (w.get("source"), w.get("checked")) if x)),
        ]
        for w in sorted(reference.ilsvrc_winners(), key=lambda w: w.get("year") or "")
    ]
    pin = reference.timm_pin()
    parts = [
        "# Published ImageNet-1k results",
        GENERATED,
        f"Reference figures for torchvision {torchvision_version} (this page changes with the torchvision version) and "
        f"timm's results tables at [{pin['commit']}]({pin['repo']}/tree/{pin['commit']}/{pin['path']}) "
        f"({pin['branch']}, {pin['date'][:10]}).",
        "What papers and libraries report on ImageNet-1k (ILSVRC-2012) validation, Papers With Code style: the "
        "papers' own tables (`bench/resources/imagenet_reported.csv`; the **protocol** column tells 10-crop and "
        "multi-crop figures from single-crop ones, and the source names the table and arXiv version), the `meta` of "
        "every torchvision weight, and every tag in timm's results-imagenet.csv (`bench/resources/timm_results/`, "
        "copied whole at the commit above), at the weight's default eval size. Paper, year and extra training data of "
        "library weights follow one rule over the weight's name and pretrained config (`bench/resources/papers.csv`, "
        "`bench/resources/pretraining_data.csv`); `A → B` is pre-training on A, then B. What we measured is on the "
        "[dataset pages](README.md).",
        f"![ImageNet-1k top-1 and ILSVRC top-5 error by year]({YEARS_PLOT})",
        F.compact_table(PUBLISHED_HEADERS, body, PUBLISHED_RIGHT),
        "## Where each extra-data label comes from",
        DATA_RULES_NOTE,
        F.table(["extra data", "named by", "source"], _data_rule_rows()),
        "## ILSVRC classification winners",
        reference.ILSVRC_RULE,
        F.table(
            ["year", "team", "model", "top-5 error (test, %)", "extra data", "entry with outside data", "source"],
            winners,
            {"year", "top-5 error (test, %)"},
        ),
    ]
    return "\n\n".join(parts) + "\n"


DATA_RULES_NOTE = (
    "A library weight's **extra data** is read from its name by the rules of `bench/resources/pretraining_data.csv` "
    "(a tag token such as `laion2b`, or a rule for a family whose tag names no corpus). **source** is where a reader "
    "can check the rule: the model card, README or paper section it was checked against, else the corpus's paper. A "
    'rule that could not be checked says "unverified" and why, and every label that uses it is marked '
    "\"(unverified)\" in the table above. A paper row's extra data comes with its own source (the paper's table)."
)


def _extra_data_cell(label: Any, source: Any) -> Any:
    """The label, marked when some link of it has no checked source (reference.is_unverified)."""
    if F.missing(label) or not label:
        return label
    return f"{label} ({reference.UNVERIFIED})" if reference.is_unverified(None if F.missing(source) else source) else label


def _data_rule_rows() -> list[list[str]]:
    rows = []
    for rule in reference.data_rules():
        named = f"tag token `{rule['match']}`" if rule["mode"] == "token" else f"`{rule['match']}` ({rule['mode']} rule)"
        rows.append([F.text(rule["data"]), F.text(named), F.text(reference.data_source(rule))])
    return rows


def render_published() -> str:
    """leaderboards/published.md from the shipped reference tables and the installed torchvision."""
    return _render_published(pub.published(), pub.torchvision_version())


def _year_points(rows: Sequence[pub.Reported]) -> list:
    from .plots import YearPoint

    def kind(model: str) -> str:
        prefix = ModelId.parse(model).prefix
        return "torchvision" if prefix == "tv" else "timm" if prefix == "timm" else "paper"

    return [YearPoint(r.year, r.top1, kind(r.model)) for r in rows if r.year is not None and r.top1 is not None]


def _winner_points() -> list[tuple[int, float]]:
    return [
        (int(w["year"]), float(w["top5_error_test"]))
        for w in reference.ilsvrc_winners()
        if w.get("year") and w.get("top5_error_test")
    ]


# ---------------------------------------------------------------------------------------------
# Regeneration


def regenerate(results_dir: str | Path, out_dir: str | Path, errors: list[ResultsError] | None = None) -> list[Path]:
    """Write the index, one page (+ Pareto plot) per dataset/split with results, and the published page.

    Pages of datasets without results are left alone, not deleted: a results dir that holds
    only part of the history must not wipe committed leaderboards. A file that cannot be read is
    left out and the rest is rendered; then it goes to `errors`, or without that list, raises.
    """
    from ..store import atomic, results
    from . import calibration, robustness, sensitivity, transfer
    from .plots import plot_pareto, plot_years

    out = atomic.check_writable(out_dir, "--out")
    found: list[ResultsError] = []
    records = [r for r in results.read_all(results_dir, found) if _samples_readable(r, found)]
    df = results.frame(records)
    beyond = robustness.regenerate([r.to_json() for r in records], out) + sensitivity.regenerate(results_dir, out, found)
    transferred = transfer.regenerate(results_dir, out)  # `bench transfer` results: transfer.md, a page per dataset, the plot
    lines = (robustness.INDEX_LINE, sensitivity.INDEX_LINE, transfer.INDEX_LINE)
    extra = [(p.name, what) for p in [*beyond, *transferred] for page, what in lines if p.name == page]
    written = [F.write(out / INDEX, render_index(df, extra)), *beyond]
    table = measured_table(df)
    for dataset, split in _pages(df):
        name = page_name(dataset, split)
        written.append(F.write(out / f"{name}.md", render_dataset_page(df, dataset, split)))
        page_rows = table[(table["dataset"] == dataset) & (table["split"] == split)]
        points = _pareto_points(page_rows)
        if points:
            written.append(plot_pareto(points, out / f"{name}-pareto.png", f"{dataset} ({split}): top-1 vs throughput"))
        written += calibration.write_diagrams(page_rows, out, name, dataset, split)
    published = pub.published()
    written.append(F.write(out / PUBLISHED, _render_published(published, pub.torchvision_version())))
    written.append(plot_years(_year_points(published), _winner_points(), out / YEARS_PLOT, "ImageNet over the years"))
    written += transferred
    if errors is not None:
        errors.extend(found)
    elif found:
        raise left_out(found)
    return written


def _samples_readable(record, errors: list[ResultsError]) -> bool:
    """A record whose per-sample file is unreadable is left out of the pages, its error kept for the end."""
    from ..store import results

    try:
        results.read_samples(record)
    except ResultsError as e:
        errors.append(e)
        return False
    return True
