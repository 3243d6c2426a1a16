"""The published-results page (leaderboards/published.md): papers, ILSVRC winners, torchvision
weights' meta and every tag timm reports, read through `bench.models`."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import reference as ref
from ..models.registry import finite
from ..models.reported import tv_figure

# ---------------------------------------------------------------------------------------------
# The published-results table (leaderboards/published.md): papers, torchvision weights, timm tags.


@dataclass(frozen=True)
class Reported:
    """One published ImageNet-1k figure, the protocol it was measured under and where it comes from."""

    model: str
    top1: float | None
    top5: float | None
    params_m: float | None
    gmacs: float | None
    extra_data: str | None
    paper: str | None
    year: int | None
    source: str
    code: str | None = None  # URL of the code/recipe that produced the weights
    protocol: str | None = None  # "single-crop 224px, crop_pct 0.875 · val", "10-crop · val", ...
    extra_data_source: str | None = None  # where the extra-data label can be checked; starts "unverified" when it was not

    @property
    def extra_data_unverified(self) -> bool:
        return ref.is_unverified(self.extra_data_source)


def torchvision_version() -> str:
    """The installed torchvision's release, without the local build tag: a CPU wheel and a +cu130
    wheel of one release ship the same weights meta, so the page must not differ between them."""
    import torchvision

    return torchvision.__version__.split("+", 1)[0]


def _val(protocol: str) -> str:
    return f"{protocol} · val"


def torchvision_reported() -> list[Reported]:
    """Every torchvision classification weight's own meta, read from the installed torchvision.

    Read at render time rather than shipped, so the page always matches the torchvision that
    runs the models; weights without an ImageNet-1k accuracy (vgg16 IMAGENET1K_FEATURES) are left out.
    """
    from ..models import torchvision_references

    out = []
    for model_id, meta in torchvision_references():
        fig = tv_figure(model_id)
        if fig is None:
            continue
        # the version is in the page header
        out.append(_library(model_id, fig, finite(meta.get("gmacs")), fig.source, meta.get("recipe") or ref.code_url(model_id)))
    return out


def timm_reported() -> list[Reported]:
    """Every tag in timm's results-imagenet.csv (at the pinned commit), at its default eval protocol
    (timm's test size when the weight has one); the other sizes timm reports are used for Δ."""
    import timm

    out = []
    for name in timm.list_pretrained():
        figures = ref.timm_figures(name)
        fig = ref.primary_figure(figures, ref.timm_cfg(name))
        if fig is None:
            continue
        model_id = f"timm:{name}"
        out.append(_library(model_id, fig, None, f"timm @ {ref.timm_pin()['commit'][:8]}", ref.code_url(model_id)))
    return out


def _library(model_id: str, fig: ref.Figure, gmacs: float | None, source: str, code: str | None) -> Reported:
    """A library's own figure for one of its weights, with the paper and training data our rules give it."""
    info = ref.weight_info(model_id)
    return Reported(
        model=model_id,
        top1=fig.top1,
        top5=fig.top5,
        params_m=fig.params_m,
        gmacs=gmacs,
        extra_data=info.extra_data,
        paper=info.paper,
        year=info.year,
        source=source,
        code=code,
        protocol=_val(fig.protocol),
        extra_data_source=_data_source(info),
    )


def _data_source(info: ref.WeightInfo) -> str:
    """Where each link of a library weight's extra-data label comes from (bench/resources/pretraining_data.csv)."""
    if info.data_sources:
        links = "; ".join(f"{label}: {source}" for label, source in info.data_sources)
        return f"{ref.UNVERIFIED} link(s) — {links}" if info.data_unverified else links
    if info.extra_data == ref.NONE:
        return "the weight's name: trained on ImageNet-1k (tag in1k, or a torchvision ImageNet-1k weight)"
    return f"{ref.UNVERIFIED}: the weight's name and config name no training data"


def paper_reported() -> list[Reported]:
    """Figures from the papers themselves (imagenet_reported.csv): 10-crop and multi-crop numbers are
    not single-crop ones, so the protocol is a column; what a params count covers goes with the source."""
    out = []
    for row in ref.papers():
        source = row.get("source") or ""
        if row.get("params_definition"):
            source = f"{source}; params: {row['params_definition']}"
        protocol = " · ".join(p for p in (row.get("protocol"), row.get("split")) if p)
        out.append(
            Reported(
                model=row["model"],
                top1=ref._num(row.get("top1")),
                top5=ref._num(row.get("top5")),
                params_m=ref._num(row.get("params_m")),
                gmacs=ref._num(row.get("gmacs")),
                extra_data=row.get("extra_data") or None,
                paper=row.get("paper") or None,
                year=int(row["year"]) if row.get("year") else None,
                source=source,
                protocol=protocol or None,
                extra_data_source=source,  # the paper's own table says what the entry was trained on
            )
        )
    return out


def published() -> list[Reported]:
    """The whole published-results table: papers, then torchvision weights, then timm tags."""
    return [*paper_reported(), *torchvision_reported(), *timm_reported()]
