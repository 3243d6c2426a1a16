"""CUDA-path details checkable on CPU (issue 24, item 17): what the GPU decode path pins, what the recorded
transform says ran, and what benchmarks/pipeline.py times."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import models as M
from bench.data import datasets as D
from bench.data import loaders
from bench.data import transforms as T

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path,pinned", [("gpu", False), ("cpu", True)])
def test_gpu_decode_path_does_not_pin_the_raw_jpeg_bytes(monkeypatch, path, pinned):
    """nvJPEG parses the bytes on the host: pinning them is a copy per batch for nothing. Decoded crops (the
    CPU path) go to the device and are pinned."""
    seen = {}

    def capture(view, **options):
        seen.update(options)
        return []

    monkeypatch.setattr(loaders, "data_loader", capture)
    images = D.load("samples", "val", None)
    ts = T.resolve(M.resolve("tf_efficientnet_lite0"))
    pipe = loaders.build(images, [0, 1, 2], ts, "cuda", 2, 0, path)
    assert pipe.data_path == path and seen["pin_memory"] is pinned


NON_SQUARE = {
    "input_size": (3, 224, 288),
    "interpolation": "bicubic",
    "crop_pct": 0.9,
    "crop_mode": "center",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
}


def _timm_1_0_29(monkeypatch):
    """timm 1.0.29's transforms_factory (what the GPU machine has): `ResizeKeepRatio(scale_size)` for a non-square
    centre crop, without the configured interpolation; later releases pass it."""
    import timm.data.transforms_factory as factory
    from timm.data.transforms import ResizeKeepRatio

    def as_in_1_0_29(size, interpolation="bilinear", **kwargs):
        return ResizeKeepRatio(size, **kwargs)

    monkeypatch.setattr(factory, "ResizeKeepRatio", as_in_1_0_29)


def _resize_step(ts):
    (step,) = [s for s in T.build(ts, normalize=False).transforms if type(s).__name__ in ("Resize", "ResizeKeepRatio")]
    return type(step).__name__, step.interpolation.value


def test_recorded_interpolation_is_the_one_timms_resize_step_runs(monkeypatch):
    spec = SimpleNamespace(source="timm", pretrained_cfg=NON_SQUARE)
    assert T.resolve(spec).interpolation == "bicubic"  # this timm passes the configured interpolation on
    assert _resize_step(T.resolve(spec)) == ("ResizeKeepRatio", "bicubic")

    _timm_1_0_29(monkeypatch)
    ts = T.resolve(spec)
    assert ts.interpolation == "bilinear"  # what ran, not what the config asked for
    assert _resize_step(ts) == ("ResizeKeepRatio", "bilinear")
    assert T.resolve(spec, overrides={"interpolation": "bicubic"}).interpolation == "bilinear"

    square = SimpleNamespace(source="timm", pretrained_cfg={**NON_SQUARE, "input_size": (3, 224, 224)})
    assert T.resolve(square).interpolation == "bicubic"  # torchvision's Resize: the configured one, on every version


def test_pipeline_harness_figure_starts_after_the_first_batch():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import pipeline
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))

    def loader():  # forking workers and filling their queues: the first batch is slow
        time.sleep(0.2)
        for b in range(4):
            yield None, None, list(range(b * 8, b * 8 + 8)), [""] * 8

    clock = pipeline.SteadyClock("cpu")
    after_first = None
    for k, _ in enumerate(clock.wrap(loader())):
        time.sleep(0.01)  # the forward pass
        if k == 0:
            after_first = time.perf_counter()
    assert clock.images == 24 and clock.started is not None and clock.started >= after_first
    assert clock.rate() > 0

    one = pipeline.SteadyClock("cpu")
    list(one.wrap(iter([(None, None, [0, 1], ["", ""])])))
    with pytest.raises(SystemExit, match="at least two batches"):
        one.rate()
