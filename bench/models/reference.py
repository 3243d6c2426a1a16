"""Reported (published) figures shipped as package data: what a model's authors or library claim,
with the protocol each figure was measured under, and the rule that says when one of our runs can
be compared with it.

- timm's own evaluation tables (ImageNet-1k, ReaL, ImageNetV2, -A, -R, -Sketch), copied whole from
  huggingface/pytorch-image-models `results/` at the commit in `timm_results/PIN.json`
  (scripts/update_timm_results.py regenerates them);
- torchvision weights' `meta`, read from the installed torchvision;
- papers' own tables (imagenet_reported.csv) and the ILSVRC winners (ilsvrc_winners.csv);
- paper and extra training data of every library weight: a rule over the weight's name and its
  pretrained config (papers.csv, pretraining_data.csv), not a hand-kept list of weights.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from .ids import ModelId

TIMM_RESULTS = "timm_results"
PIN = "PIN.json"
# (dataset key, split) of our result records -> timm's file. The ReaL figures are on ImageNet-1k
# validation images scored with the ReaL label sets (a column of the imagenet-1k page); the -clean files
# are ImageNet-1k validation restricted to the 200 ImageNet-A / -R classes (`--classes imagenet-a`).
TIMM_FILES: dict[tuple[str, str], str] = {
    ("imagenet-1k", "validation"): "results-imagenet.csv",
    ("imagenet-real", "validation"): "results-imagenet-real.csv",
    ("imagenet-v2", "val"): "results-imagenetv2-matched-frequency.csv",
    ("imagenet-a", "val"): "results-imagenet-a.csv",
    ("imagenet-r", "val"): "results-imagenet-r.csv",
    ("imagenet-sketch", "val"): "results-sketch.csv",
    ("imagenet-1k@imagenet-a", "validation"): "results-imagenet-a-clean.csv",
    ("imagenet-1k@imagenet-r", "validation"): "results-imagenet-r-clean.csv",
}
IMAGENET = ("imagenet-1k", "validation")
# Images in each split timm evaluated (its results/README.md; the -clean sets are the 200 classes x 50
# validation images): a local copy with fewer images is not the split the figure is about.
SPLIT_SIZES: dict[tuple[str, str], int] = {
    ("imagenet-1k", "validation"): 50_000,
    ("imagenet-real", "validation"): 50_000,
    ("imagenet-v2", "val"): 10_000,
    ("imagenet-a", "val"): 7_500,
    ("imagenet-r", "val"): 30_000,
    ("imagenet-sketch", "val"): 50_889,
    ("imagenet-1k@imagenet-a", "validation"): 10_000,
    ("imagenet-1k@imagenet-r", "validation"): 10_000,
}
NONE = "none"  # trained on ImageNet-1k alone
UNKNOWN = "unknown"  # the name and config say nothing about the training data


# ---------------------------------------------------------------------------------------------
# Package-data tables


def _resource(*parts: str):
    return resources.files("bench").joinpath("resources", *parts)


def read_table(name: str) -> list[dict[str, str]]:
    """A CSV under bench/resources as dicts; rows whose first cell starts with '#' are comments."""
    path = _resource(*name.split("/"))
    if not path.is_file():
        return []
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    first = rows.fieldnames[0] if rows.fieldnames else None
    return [r for r in rows if first is None or not (r.get(first) or "").startswith("#")]


def _num(value: str | None) -> float | None:
    """A CSV number; timm writes thousands separators ("1,013.01")."""
    return float(value.replace(",", "")) if value not in (None, "") else None


@cache
def timm_pin() -> dict[str, Any]:
    """Where the shipped timm tables come from: repo, branch, full commit sha, date, sha256 per file."""
    return json.loads(_resource(TIMM_RESULTS, PIN).read_text(encoding="utf-8"))


def _timm_source(filename: str) -> str:
    return f"timm {filename} @ {timm_pin()['commit'][:8]}"


# ---------------------------------------------------------------------------------------------
# Reported figures and the protocol they were measured under


@dataclass(frozen=True)
class Figure:
    """One reported accuracy and the protocol behind it (what Δ must match)."""

    model: str  # timm `arch.tag`, or a `tv:` id
    dataset: str
    split: str
    top1: float | None
    top5: float | None = None
    params_m: float | None = None
    img_size: int | None = None  # square eval input, pixels
    crop_pct: float | None = None
    crop_mode: str = "center"
    interpolation: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    source: str = ""

    @property
    def protocol(self) -> str:
        """'single-crop 288px, crop_pct 1.0, center': how a reader sees the figure's protocol."""
        parts = ["single-crop"]
        if self.img_size:
            parts[0] += f" {self.img_size}px"
        if self.crop_pct is not None:
            parts.append(f"crop_pct {fmt_pct(self.crop_pct)}")
        if self.crop_mode and self.crop_mode != "center":
            parts.append(self.crop_mode)
        return ", ".join(parts)


def fmt_pct(value: float) -> str:
    """0.875 -> '0.875', 1.0 -> '1.0', 0.96551 -> '0.9655': a crop fraction as people write it."""
    text = f"{value:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@cache
def _timm_rows(filename: str) -> dict[str, tuple[dict[str, str], ...]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in read_table(f"{TIMM_RESULTS}/{filename}"):
        out.setdefault(row["model"], []).append(row)
    return {k: tuple(v) for k, v in out.items()}


@cache
def timm_cfg(name: str) -> dict[str, Any]:
    """timm's pretrained config of `arch.tag` ({} when timm does not know it)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return cfg.to_dict() if cfg is not None else {}


def timm_figures(name: str, dataset: str = "imagenet-1k", split: str = "validation") -> list[Figure]:
    """Every figure timm reports for `arch.tag` on a dataset, best first (timm's own order).

    timm's tables have no crop-mode column: its validate.py resolves the mode from the weight's
    pretrained config, so that is the figure's mode (and mean/std, which the tables omit)."""
    filename = TIMM_FILES.get((dataset, split))
    if not filename:
        return []
    rows = _timm_rows(filename).get(name, ())
    if not rows:
        return []
    cfg = timm_cfg(name)
    return [
        Figure(
            model=name,
            dataset=dataset,
            split=split,
            top1=_num(r.get("top1")),
            top5=_num(r.get("top5")),
            params_m=_num(r.get("param_count")),
            img_size=int(r["img_size"]) if r.get("img_size") else None,
            crop_pct=_num(r.get("crop_pct")),
            crop_mode=str(cfg.get("crop_mode") or "center"),
            interpolation=r.get("interpolation") or None,
            mean=tuple(cfg["mean"]) if cfg.get("mean") else None,
            std=tuple(cfg["std"]) if cfg.get("std") else None,
            source=_timm_source(filename),
        )
        for r in rows
    ]


def default_eval_size(cfg: dict[str, Any]) -> tuple[int | None, float | None]:
    """(input size, crop_pct) timm's validate.py uses by default: the test size when the config has one."""
    size = cfg.get("test_input_size") or cfg.get("input_size")
    crop = cfg.get("test_crop_pct") if cfg.get("test_input_size") else None
    return (int(size[-1]) if size else None), (float(crop if crop is not None else cfg.get("crop_pct") or 0) or None)


def primary_figure(figures: list[Figure], cfg: dict[str, Any] | None = None) -> Figure | None:
    """The figure of the weight's default eval protocol (timm's test size when it has one), else the first."""
    if not figures:
        return None
    size, crop = default_eval_size(cfg or {})
    same_size = [f for f in figures if size is not None and f.img_size == size]
    same_crop = [f for f in same_size if crop is not None and f.crop_pct is not None and abs(f.crop_pct - crop) < 5e-4]
    return (same_crop or same_size or figures)[0]


def timm_reference(name: str, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Reported ImageNet-1k figure of a timm `arch.tag` at its default eval protocol, or {} when timm reports none.

    The shape of ModelSpec.reference (stored in every result): top1, top5, params, img_size, crop_pct, source."""
    fig = primary_figure(timm_figures(name), cfg if cfg is not None else timm_cfg(name))
    if fig is None:
        return {}
    return {
        "top1": fig.top1,
        "top5": fig.top5,
        "params": round(fig.params_m * 1e6) if fig.params_m else None,
        "img_size": fig.img_size,
        "crop_pct": fig.crop_pct,
        "interpolation": fig.interpolation,
        "source": fig.source,
    }


def torchvision_figure(model_id: str, meta: dict[str, Any], cfg: dict[str, Any]) -> Figure | None:
    """A torchvision weight's meta accuracy (ModelSpec.reference), with the protocol of its own
    `weights.transforms()` (ModelSpec.pretrained_cfg); None for weights without an accuracy."""
    if meta.get("top1") is None:
        return None
    return Figure(
        model=model_id,
        dataset="imagenet-1k",
        split="validation",
        top1=meta["top1"],
        top5=meta.get("top5"),
        params_m=meta["params"] / 1e6 if meta.get("params") else None,
        img_size=int(cfg["input_size"][-1]),
        crop_pct=float(cfg["crop_pct"]),
        crop_mode="center",
        interpolation=str(cfg["interpolation"]),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        source=meta["source"],
    )


# ---------------------------------------------------------------------------------------------
# When is a measured number comparable with a reported one?


@dataclass(frozen=True)
class RunProtocol:
    """The facts of one of our runs that decide whether it measured what a reported figure measured."""

    dataset: str
    split: str
    weights: str = "pretrained"
    policy: str | None = None  # transform policy: model | fixed
    input_size: tuple[int, int] | None = None  # (H, W)
    crop_pct: float | None = None
    crop_mode: str = "center"  # records older than crop_mode were all centre crops
    interpolation: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    overrides: tuple[str, ...] = ()  # transform fields the user overrode, when the record says
    limit: int | None = None
    n: int | None = None
    size: int | None = None  # images in the dataset split
    data_source: str | None = None

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> RunProtocol:
        """From a stored result record (bench.store.results); missing sections read as unknown."""
        key = result.get("key") or {}
        tf = result.get("transform") or {}
        ds = result.get("dataset") or {}
        acc = result.get("accuracy") or {}
        size = tf.get("input_size")
        overrides = tf.get("overrides") or (result.get("run") or {}).get("transform_overrides") or ()
        return cls(
            dataset=str(key.get("dataset")),
            split=str(key.get("split")),
            weights=str(key.get("weights") or "pretrained"),
            policy=tf.get("policy") or key.get("transform"),
            input_size=(int(size[-2]), int(size[-1])) if size else None,
            crop_pct=float(tf["crop_pct"]) if tf.get("crop_pct") is not None else None,
            crop_mode=str(tf.get("crop_mode") or "center"),
            interpolation=tf.get("interpolation"),
            mean=tuple(tf["mean"]) if tf.get("mean") else None,
            std=tuple(tf["std"]) if tf.get("std") else None,
            overrides=tuple(sorted(overrides)),
            limit=ds.get("limit"),
            n=acc.get("n"),
            size=ds.get("size"),
            data_source=ds.get("source"),
        )


def _close(a: Iterable[float], b: Iterable[float], tol: float = 5e-4) -> bool:
    a, b = tuple(a), tuple(b)
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def comparable(run: RunProtocol, fig: Figure | None) -> tuple[bool, str]:
    """Whether `run` measured what `fig` reports, and if not, the first reason why.

    Same data (dataset and split, and the whole split: no --limit, n = the split's size = the size of the
    split the library evaluated), the pretrained weights, the model's own transform with nothing
    overridden, and the figure's input size, crop_pct, crop mode, interpolation and normalisation.
    Anything unknown on our side is not comparable."""
    if fig is None:
        return False, "no reported figure"
    if (run.dataset, run.split) != (fig.dataset, fig.split):
        return False, f"reported on {fig.dataset}"
    if run.weights != "pretrained":
        return False, f"{run.weights} weights"
    if run.policy != "model":
        return False, f"{run.policy or 'unknown'} transform"
    if run.overrides:
        return False, f"overridden {', '.join(run.overrides)}"
    if run.input_size is None or run.crop_pct is None:
        return False, "transform not recorded"
    if fig.img_size is not None and run.input_size != (fig.img_size, fig.img_size):
        h, w = run.input_size
        return False, f"input {h if h == w else f'{h}x{w}'} ≠ {fig.img_size}"
    if fig.crop_pct is not None and abs(run.crop_pct - fig.crop_pct) >= 5e-4:
        return False, f"crop_pct {fmt_pct(run.crop_pct)} ≠ {fmt_pct(fig.crop_pct)}"
    if run.crop_mode != fig.crop_mode:
        return False, f"crop mode {run.crop_mode} ≠ {fig.crop_mode}"
    if fig.interpolation and run.interpolation and run.interpolation != fig.interpolation:
        return False, f"{run.interpolation} ≠ {fig.interpolation}"
    if fig.mean and run.mean and not (_close(run.mean, fig.mean) and _close(run.std or (), fig.std or ())):
        return False, "mean/std differ"
    if run.limit:
        return False, f"--limit {run.limit}"
    if run.n is None or run.size is None:
        return False, "n unknown"
    if run.n != run.size:
        return False, f"n {run.n} of {run.size}"
    expected = SPLIT_SIZES.get((fig.dataset, fig.split))
    if expected is not None and run.size != expected:
        return False, f"split has {run.size} of {expected} images"
    if fig.dataset == "imagenet-v2" and run.data_source and re.search(r"threshold|top-?images", run.data_source, re.IGNORECASE):
        return False, "ImageNetV2 variant ≠ matched-frequency"
    return True, "same protocol"


def closest_figure(run: RunProtocol, figures: list[Figure]) -> Figure | None:
    """The figure to set beside a run: the one at the run's input size and crop_pct, else the first."""
    if not figures:
        return None
    for fig in figures:
        if (
            run.input_size == (fig.img_size, fig.img_size)
            and run.crop_pct is not None
            and fig.crop_pct is not None
            and abs(run.crop_pct - fig.crop_pct) < 5e-4
        ):
            return fig
    sized = [f for f in figures if run.input_size == (f.img_size, f.img_size)]
    return (sized or figures)[0]


# ---------------------------------------------------------------------------------------------
# Paper, year and extra training data of a library weight


@dataclass(frozen=True)
class WeightInfo:
    """Papers With Code's columns for a weight: the paper (of its recipe, else its architecture),
    year, and the training data besides ImageNet-1k, as a chain (pre-training first)."""

    paper: str | None = None
    arxiv: str | None = None
    year: int | None = None
    extra_data: str | None = None
    data_chain: tuple[str, ...] = field(default_factory=tuple)
    data_sources: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (label, where to check it) per rule

    @property
    def data_unverified(self) -> bool:
        """Some link of the extra-data chain has no source that was checked (published.md marks the label)."""
        return any(is_unverified(source) for _, source in self.data_sources)


def split_id(model_id: str) -> tuple[str, str, str | None]:
    """`tv:resnet50.IMAGENET1K_V2` -> ("tv", "resnet50", "IMAGENET1K_V2"); no prefix reads as timm (the tables'
    own ids are timm's `arch.tag`)."""
    given = ModelId.parse(model_id)
    return "timm" if given.prefix is None else given.prefix, given.arch, given.tag or None


def _literal(glob: str) -> int:
    """Characters a glob pins down (what makes one pattern more specific than another)."""
    return len(re.sub(r"\[[^\]]*\]|[*?]", "", glob))


@dataclass(frozen=True)
class _Rule:
    match: str
    regex: re.Pattern | None  # None for module: rows
    rank: tuple[int, int, int]  # (tier, tag literals, arch literals): higher wins
    row: dict[str, str]


def _rule(row: dict[str, str]) -> _Rule:
    import fnmatch

    match = row["match"]
    glob = ModelId.parse(match)  # a `tv:`/`timm:` glob over model ids, or `module:<timm module>`
    if glob.prefix == "module":
        return _Rule(match, None, (0, 0, 0), row)
    tag_lits = _literal(glob.tag or "")
    return _Rule(match, re.compile(fnmatch.translate(match)), (2 if tag_lits else 1, tag_lits, _literal(glob.arch)), row)


@cache
def _paper_rules() -> tuple[_Rule, ...]:
    return tuple(_rule(r) for r in read_table("papers.csv"))


@cache
def _data_rows() -> tuple[dict[tuple[str, ...], dict[str, str]], tuple[_Rule, ...]]:
    """(token run -> row) and the model-glob rows of pretraining_data.csv."""
    tokens: dict[tuple[str, ...], dict[str, str]] = {}
    models: list[_Rule] = []
    for row in read_table("pretraining_data.csv"):
        if row["mode"] == "token":
            tokens[tuple(row["match"].lower().split("_"))] = row
        else:
            models.append(_rule(row))
    return tokens, tuple(models)


@cache
def _arch_module() -> dict[str, str]:
    """timm architecture -> the timm module that defines it (timm's public list_models(module=))."""
    import timm

    return {arch: module for module in timm.list_modules() for arch in timm.list_models(module=module)}


def _best(rules: Iterable[_Rule], model_id: str, module: str | None, tiers: tuple[int, ...]) -> _Rule | None:
    hits = [
        r
        for r in rules
        if r.rank[0] in tiers
        and (r.regex.fullmatch(model_id) if r.regex is not None else module and r.match == f"module:{module}")
    ]
    return max(hits, key=lambda r: r.rank, default=None)


def _year(arxiv: str | None, year: str | None) -> int | None:
    if year:
        return int(year)
    return 2000 + int(arxiv[:2]) if arxiv and re.match(r"\d{4}\.\d{4,5}", arxiv) else None


def _title_of(arxiv: str) -> str | None:
    for r in (*(x.row for x in _paper_rules()), *_data_rows()[0].values()):
        if r.get("arxiv") == arxiv and r.get("paper"):
            return r["paper"]
    return None


def _paper(model_id: str, cfg: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """The paper of a weight: a tag rule (the recipe of these weights), then the paper the pretrained
    config cites, then an architecture rule, then the paper of the timm module that defines the model."""
    prefix, arch, _ = split_id(model_id)
    module = _arch_module().get(arch) if prefix == "timm" else None
    hit = _best(_paper_rules(), model_id, module, (2,))
    if hit is None and cfg.get("paper_ids"):
        ids = cfg["paper_ids"] if isinstance(cfg["paper_ids"], (list, tuple)) else [cfg["paper_ids"]]
        cited = re.sub(r"^arXiv:|v\d+$", "", str(ids[0]))
        title = cfg.get("paper_name") or _title_of(cited) or f"arXiv:{cited}"
        return title, cited, _year(cited, None)
    hit = hit or _best(_paper_rules(), model_id, module, (1,)) or _best(_paper_rules(), model_id, module, (0,))
    if hit is None:
        return None, None, None
    arxiv = hit.row.get("arxiv") or None
    return hit.row["paper"], arxiv, _year(arxiv, hit.row.get("year"))


def _data_rows_of(model_id: str) -> list[dict[str, str]]:
    """The pretraining_data.csv rows that name a weight's training data, pre-training first, ImageNet-1k left out.

    The tag's tokens are read left to right (`laion2b_ft_in12k_in1k` -> LAION-2B, ImageNet-12k); at each
    position the longest token run in pretraining_data.csv wins. Families whose tags do not name their
    data have a model rule: `default` when the tag names nothing, `prefix` always."""
    _, _, tag = split_id(model_id)
    tokens, models = _data_rows()
    words = (tag or "").lower().split("_")
    rows: list[dict[str, str]] = []
    longest = max((len(k) for k in tokens), default=1)
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            row = tokens.get(tuple(words[i : i + n]))
            if row is not None:
                if row["data"] != "ImageNet-1k" and all(r["data"] != row["data"] for r in rows):
                    rows.append(row)
                i += n
                break
        else:
            i += 1
    prefix = _best((r for r in models if r.row["mode"] == "prefix"), model_id, None, (1, 2))
    default = _best((r for r in models if r.row["mode"] == "default"), model_id, None, (1, 2))
    if not rows and default is not None:
        rows.append(default.row)
    if prefix is not None:
        rows.insert(0, prefix.row)
    return rows


def training_data(model_id: str) -> tuple[str, ...]:
    """The chain of training data named by a weight, pre-training first, ImageNet-1k left out (a rule's data may
    itself be a chain, `A → B`). An empty chain means no extra data was named; extra_data() tells "none"
    (ImageNet-1k named) from "unknown" (nothing named)."""
    return tuple(part for row in _data_rows_of(model_id) for part in row["data"].split(CHAIN))


UNVERIFIED = "unverified"  # how a source that could not be checked starts, on the published-results page too
CHAIN = " → "


def data_source(row: dict[str, str]) -> str:
    """Where a reader can check one pretraining_data.csv row: the check it passed (`checked`: a model card, README
    or paper section), else the paper of the corpus; 'unverified: why' when there is neither or the check failed."""
    if row.get("checked"):
        return row["checked"]
    if row.get("paper"):
        return row["paper"] + (f", arXiv:{row['arxiv']}" if row.get("arxiv") else "")
    return f"{UNVERIFIED}: no paper or model card checked for this corpus"


def is_unverified(source: str | None) -> bool:
    return not source or source.startswith(UNVERIFIED)


def data_sources(model_id: str) -> tuple[tuple[str, str], ...]:
    """(label, source) of each link of a weight's extra-data chain (see data_source)."""
    return tuple((row["data"], data_source(row)) for row in _data_rows_of(model_id))


def data_rules() -> list[dict[str, str]]:
    """Every rule of pretraining_data.csv that names data beyond ImageNet-1k, in file order."""
    return [r for r in read_table("pretraining_data.csv") if r["data"] != "ImageNet-1k"]


def _names_imagenet_1k(model_id: str) -> bool:
    """True when the tag (or a torchvision weight name) says the weights were trained on ImageNet-1k data."""
    prefix, _, tag = split_id(model_id)
    if prefix == "tv":
        return True  # every torchvision classification weight is trained on ImageNet-1k; SWAG has its token
    tokens = _data_rows()[0]
    words = (tag or "").lower().split("_")
    return any(tokens.get((w,), {}).get("data") == "ImageNet-1k" for w in words)


def extra_data(model_id: str) -> str:
    """'LAION-2B → ImageNet-12k', 'none' (ImageNet-1k alone) or 'unknown' (the name says nothing)."""
    chain = training_data(model_id)
    if chain:
        return " → ".join(chain)
    return NONE if _names_imagenet_1k(model_id) else UNKNOWN


@cache
def weight_info(model_id: str) -> WeightInfo:
    """Paper, arXiv id, year and extra training data of a `tv:`/`timm:` model id."""
    prefix, arch, tag = split_id(model_id)
    if prefix not in ("tv", "timm"):
        return WeightInfo()
    cfg = timm_cfg(f"{arch}.{tag}") if prefix == "timm" and tag else {}
    paper, arxiv, year = _paper(model_id, cfg)
    return WeightInfo(
        paper=paper,
        arxiv=arxiv,
        year=year,
        extra_data=extra_data(model_id),
        data_chain=training_data(model_id),
        data_sources=data_sources(model_id),
    )


def model_paper(model_id: str) -> dict[str, Any]:
    """{"paper", "year", "extra_data"} of a model id (the columns the leaderboards show)."""
    info = weight_info(model_id)
    return {"paper": info.paper, "year": info.year, "extra_data": info.extra_data}


# ---------------------------------------------------------------------------------------------
# Papers' own tables and the ILSVRC winners


def papers() -> list[dict[str, str]]:
    """Published results from the papers themselves (imagenet_reported.csv), with protocol and source."""
    return read_table("imagenet_reported.csv")


def ilsvrc_winners() -> list[dict[str, str]]:
    """One row per year: see ILSVRC_RULE."""
    return read_table("ilsvrc_winners.csv")


ILSVRC_RULE = (
    "Each year counts the best entry of the classification winner trained on the supplied ILSVRC training "
    "data alone (top-5 error on the test set); `extra data` names what that entry used besides, and "
    "`entry with outside data` the same team's best entry that used more, where there was one."
)


def code_url(model_id: str) -> str | None:
    """Where a model's code and weights card live, derived from its id alone (no hub access)."""
    prefix, arch, tag = split_id(model_id)
    if prefix == "tv":
        return f"https://pytorch.org/vision/stable/models/generated/torchvision.models.{arch}.html"
    if prefix == "timm" and tag:
        return f"https://huggingface.co/timm/{arch}.{tag}"
    return None
