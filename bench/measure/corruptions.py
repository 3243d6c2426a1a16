"""ImageNet-C corruptions on the fly (Hendrycks & Dietterich 2019), and mCE / relative mCE against AlexNet.

The corruption functions come from the `imagecorruptions-imaug` package (the maintained fork of
bethgelab's `imagecorruptions`, itself Hendrycks' code made size-agnostic and free of ImageMagick).
They are applied the way ImageNet-C was made: to the uint8 centre crop the model sees (224x224 for
ImageNet-C; here the model's own crop), the result truncated to uint8 and stored as a quality-85
JPEG (`make_imagenet_c.py` saves every corrupted image that way), then normalised as usual.

Each image is corrupted deterministically: numpy's global RNG (what the library draws from) is seeded,
right before the call, with a stable hash of (dataset sample index, corruption, severity); the two
functions that draw elsewhere (impulse_noise through scikit-image, glass_blur through numba) get the
same seed as their `seed=` argument. So a result does not depend on workers, batch size or order.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..errors import BenchError, ConfigError, shorten

PACKAGE = "imagecorruptions-imaug"
# Order of ImageNet-C (and of the package's corruption_tuple): noise, blur, weather, digital.
COMMON = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")  # ImageNet-C's held-out set: reported, not in mCE
NAMES = COMMON + EXTRA
SEVERITIES = (1, 2, 3, 4, 5)
SEEDED = ("impulse_noise", "glass_blur")  # draw from their own RNG, seeded through `seed=`
JPEG_QUALITY = 85
ARRAY_PREFIX = "corrupt__"


# ---------------------------------------------------------------------------------------------
# What a run asks for


def parse(text: str) -> tuple[tuple[str, int], ...]:
    """`all` | NAME[:SEVERITY],... -> sorted (name, severity) pairs; a NAME without severity means 1-5."""
    pairs: set[tuple[str, int]] = set()
    for token in (t.strip() for t in str(text).split(",")):
        if not token:
            continue
        name, _, sev = token.partition(":")
        if name == "all":  # all = the 15 common corruptions; all:3 = each of them at severity 3
            if sev and sev not in {str(s) for s in SEVERITIES}:
                raise ConfigError(f"--corruptions {shorten(repr(token))}: severity must be 1 to 5, e.g. all:3")
            pairs.update((c, s) for c in COMMON for s in ((int(sev),) if sev else SEVERITIES))
            continue
        if name not in NAMES:
            close = difflib.get_close_matches(name, NAMES + ("all",), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ConfigError(
                f"--corruptions: unknown corruption {shorten(repr(name))}{hint}; use all[:SEVERITY] or NAME[:SEVERITY] with NAME one of "
                f"{', '.join(NAMES)}"
            )
        if sev:
            if sev not in {str(s) for s in SEVERITIES}:
                raise ConfigError(f"--corruptions {shorten(repr(token))}: severity must be 1 to 5")
            pairs.add((name, int(sev)))
        else:
            pairs.update((name, s) for s in SEVERITIES)
    if not pairs:
        raise ConfigError("--corruptions is empty: use all or NAME[:SEVERITY],...")
    return tuple(sorted(pairs, key=lambda p: (NAMES.index(p[0]), p[1])))


def canonical(text: str) -> str:
    """One spelling per set (part of the result's identity): `all`, else NAME or NAME:S in ImageNet-C order."""
    pairs = parse(text)
    if set(pairs) == {(c, s) for c in COMMON for s in SEVERITIES}:
        return "all"
    out = []
    for name in NAMES:
        sevs = [s for c, s in pairs if c == name]
        if sevs == list(SEVERITIES):
            out.append(name)
        else:
            out += [f"{name}:{s}" for s in sevs]
    return ",".join(out)


def seed_for(index: int, name: str, severity: int) -> int:
    """A stable 32-bit seed (numpy's legacy seed range) for one image under one corruption and severity."""
    digest = hashlib.sha256(f"{int(index)}:{name}:{int(severity)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


# ---------------------------------------------------------------------------------------------
# Applying one corruption (runs in the loader workers)


def library_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return None


def require_library() -> None:
    """Fail before any model runs, with the install line, when the corruption package is missing."""
    try:
        import imagecorruptions  # noqa: F401
    except ImportError as e:
        raise BenchError(f"--corruptions needs the {PACKAGE} package ({e}): pip install 'imagenet-bench[corruptions]'") from None


def jpeg_roundtrip(img, quality: int = JPEG_QUALITY):
    """Encode and decode as ImageNet-C's files were saved: PIL JPEG, `quality=85, optimize=True`."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, optimize=True)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def apply(img, name: str, severity: int, index: int, jpeg_quality: int | None = JPEG_QUALITY):
    """HxWx3 uint8 -> the same image corrupted, seeded by (index, name, severity); numpy's global RNG
    state is restored afterwards, so calling this never changes the caller's random stream."""
    import numpy as np
    from imagecorruptions import corrupt

    seed = seed_for(index, name, severity)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        out = corrupt(
            np.ascontiguousarray(img), severity=severity, corruption_name=name, **({"seed": seed} if name in SEEDED else {})
        )
    finally:
        np.random.set_state(state)
    return jpeg_roundtrip(out, jpeg_quality) if jpeg_quality else out


@dataclass(frozen=True)
class Corruptor:
    """Picklable per-sample step for the loader workers: uint8 CxHxW tensor + sample index -> corrupted tensor."""

    name: str
    severity: int
    jpeg_quality: int | None = JPEG_QUALITY

    def __call__(self, x, index: int):
        import torch

        out = apply(x.permute(1, 2, 0).numpy(), self.name, self.severity, index, self.jpeg_quality)
        return torch.from_numpy(out.copy()).permute(2, 0, 1).contiguous()


# ---------------------------------------------------------------------------------------------
# Scoring


@cache
def alexnet() -> tuple[dict[str, float], float, dict[str, str]]:
    """AlexNet's published corruption errors (fractions, mean over severities 1-5), its clean error, and sources."""
    text = resources.files("bench").joinpath("resources", "imagenet_c_alexnet.csv").read_text(encoding="utf-8")
    rows = {r["corruption"]: r for r in csv.DictReader(io.StringIO(text))}
    errors = {c: float(rows[c]["alexnet_error"]) for c in COMMON}
    return (
        errors,
        float(rows["clean"]["alexnet_error"]),
        {"corruptions": rows[COMMON[0]]["source"], "clean": rows["clean"]["source"]},
    )


def score(errors: dict[str, dict[int, float]], clean_error: float | None) -> dict[str, Any]:
    """CE, relative CE, mCE and relative mCE (Hendrycks & Dietterich 2019, Sec. 3), all errors as fractions.

    CE_c = sum_s E_s,c / sum_s E_s,c(AlexNet); relative CE_c = sum_s (E_s,c - E_clean) / sum_s (E_s,c(AlexNet) -
    E_clean(AlexNet)). AlexNet's figures are means over the five severities, so a corruption gets a CE only
    when all five were run. mCE averages the CEs of the 15 common corruptions; with fewer it is reported over
    those present and marked incomplete (`mce_complete` false), never passed off as the benchmark's mCE.
    """
    ref, ref_clean, _ = alexnet()
    ce: dict[str, float | None] = {}
    rel: dict[str, float | None] = {}
    for name, by_sev in errors.items():
        if name not in ref or set(by_sev) != set(SEVERITIES):
            ce[name] = rel[name] = None
            continue
        mean = sum(by_sev[s] for s in SEVERITIES) / len(SEVERITIES)
        ce[name] = mean / ref[name]
        rel[name] = None if clean_error is None else (mean - clean_error) / (ref[name] - ref_clean)
    scored = {c: v for c in COMMON if (v := ce.get(c)) is not None}
    rel_scored = {c: v for c in scored if (v := rel.get(c)) is not None}
    return {
        "ce": {c: _pct(v) for c, v in ce.items()},
        "relative_ce": {c: _pct(v) for c, v in rel.items()},
        "mce": _pct(sum(scored.values()) / len(scored)) if scored else None,
        "relative_mce": _pct(sum(rel_scored.values()) / len(rel_scored)) if rel_scored else None,
        "mce_corruptions": len(scored),
        "mce_complete": len(scored) == len(COMMON),
    }


def _pct(v: float | None) -> float | None:
    return None if v is None else round(100.0 * v, 4)


def array_name(name: str, severity: int) -> str:
    """The per-sample array of restricted top-1 predictions under one corruption, in the .samples.npz."""
    return f"{ARRAY_PREFIX}{name}__{severity}__top1"


def errors_from_samples(samples: dict[str, Any]) -> dict[str, dict[int, float]]:
    """Restricted top-1 error (fraction) per corruption and severity from the stored per-sample arrays.

    Each array is aligned with the clean record's `index`; -1 (the corrupted image failed) counts as wrong.
    """
    import numpy as np

    target = samples["target"]
    out: dict[str, dict[int, float]] = {}
    for key in sorted(k for k in samples if k.startswith(ARRAY_PREFIX) and k.endswith("__top1")):
        name, sev = key[len(ARRAY_PREFIX) : -len("__top1")].rsplit("__", 1)
        top1 = samples[key]
        right = (top1 == target) & (target >= 0) & (top1 >= 0)
        out.setdefault(name, {})[int(sev)] = 1.0 - float(np.mean(right)) if len(target) else float("nan")
    return out


def summarize(samples: dict[str, Any], requested: str, data_path: str | None = None) -> dict[str, Any]:
    """The `accuracy.corruptions` record: error per corruption and severity (percent), CE, mCE, relative mCE."""
    import numpy as np

    errors = errors_from_samples(samples)
    target = samples["target"]
    n = len(target)
    clean = 1.0 - float(np.mean((samples["restricted_top5"][:, 0] == target) & (target >= 0))) if n else None
    _, _, sources = alexnet()
    ordered = sorted(errors, key=NAMES.index)
    return {
        "requested": canonical(requested),
        "library": f"{PACKAGE} {library_version()}",
        "applied_to": "the model's uint8 centre crop, before normalisation; then JPEG quality 85 as ImageNet-C's files",
        "seed": "sha256(index:corruption:severity)[:4] seeds numpy's global RNG (and seed= of impulse_noise, glass_blur)",
        "protocol": "restricted",
        "data_path": data_path,
        "n": n,
        "clean_error": _pct(clean),
        "errors": {c: {str(s): _pct(errors[c][s]) for s in sorted(errors[c])} for c in ordered},
        **score({c: errors[c] for c in ordered}, clean),
        "alexnet_source": sources,
    }


def evaluate_all(evaluation, requested: str, evaluate_one: Callable, log: Callable[[str], None] | None = None) -> None:
    """Run `evaluate_one(Corruptor)` for every requested (corruption, severity) and attach the results to
    `evaluation` (the clean one): per-sample arrays into its samples, the summary into `summary["corruptions"]`."""
    import numpy as np

    require_library()
    index = evaluation.samples["index"]
    position = {int(i): j for j, i in enumerate(index.tolist())}
    data_path = None
    for name, sev in parse(requested):
        if log:
            log(f"   corruption {name}:{sev}")
        ev = evaluate_one(Corruptor(name, sev))
        data_path = ev.summary.get("data_path", data_path)
        top1 = np.full(len(index), -1, dtype=np.int32)
        for i, pred in zip(ev.samples["index"].tolist(), ev.samples["restricted_top5"][:, 0].tolist()):
            top1[position[i]] = pred
        evaluation.samples[array_name(name, sev)] = top1
    evaluation.summary["corruptions"] = summarize(evaluation.samples, requested, data_path)
