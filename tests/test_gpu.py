"""CUDA paths: run on any machine with a GPU (`pytest -m gpu`), skipped elsewhere.

The CPU tests cannot see a device mix-up (a tensor left on the host, a model never moved, memory
probes that read nothing); these run the same scoring and measurement on CUDA and compare.
"""

from __future__ import annotations

import fixtures as F
import numpy as np
import pytest
import torch

from bench.data import labels as L
from bench.measure import efficiency as E
from bench.measure.evaluate import evaluate

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

HEAD = L.LabelSpace("head4", ("n00000000", "n00000001", "n00000002", "n00000003"), ("m0", "m1", "m2", "m3"))
DATA = L.LabelSpace("data3", ("n00000002", "n09999999", "n00000000"), ("d0", "d1", "d2"))


def _batches():
    g = torch.Generator().manual_seed(0)
    for b in range(3):
        logits = torch.randn(8, 4, 1, 1, generator=g)
        errs = ["" if (b * 8 + i) % 5 else "OSError: broken" for i in range(8)]
        yield logits, torch.randint(0, 3, (8,), generator=g), torch.arange(b * 8, b * 8 + 8), errs


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_scoring_on_cuda_equals_cpu(precision):
    proj = L.project(DATA, HEAD)
    cpu = evaluate(torch.nn.Flatten(), _batches(), proj, device="cpu", progress=False)
    gpu = evaluate(torch.nn.Flatten(), _batches(), proj, device="cuda", precision=precision, channels_last=True, progress=False)
    for k in ("index", "target", "full_top5", "restricted_top5"):
        np.testing.assert_array_equal(gpu.samples[k], cpu.samples[k])
    np.testing.assert_allclose(gpu.samples["nll_full"], cpu.samples["nll_full"], rtol=1e-5)
    assert gpu.summary["restricted"] == cpu.summary["restricted"] and gpu.summary["failed"] == cpu.summary["failed"]


def test_measure_on_cuda_reads_gpu_memory_and_restores_the_model():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 10),
    ).train()
    # fixed counts, no time thresholds: 2 warm-up calls, 3 repeats of 3 steps, 5 latency samples
    budget = F.fixed_budget(warmup=2, repeats=3, iters=3, latency=5)
    r = E.measure(model, (3, 64, 64), E.EfficiencyConfig(device="cuda", batch_size=8, budget=budget))
    assert (r["repeat_iters"], r["latency_iters"]) == ([3, 3, 3], 5)
    assert r["params"] == 16 * 3 * 9 + 16 + 16 * 10 + 10
    assert r["device"] == "cuda" and r["device_name"] == torch.cuda.get_device_name()
    assert r["gpu_max_allocated_mb"] > 0 and r["gpu_max_reserved_mb"] >= r["gpu_max_allocated_mb"]
    assert r["cpu_rss_growth_mb"] is None
    assert r["throughput_img_s_min"] <= r["throughput_img_s"] <= r["throughput_img_s_max"]
    assert 0 < r["latency_ms_p50"] <= r["latency_ms_p95"] <= r["latency_ms_p99"]
    assert model.training and next(model.parameters()).device.type == "cuda"
    # "fp32" is IEEE fp32 for convolutions and matmuls alike (torch's default runs cuDNN convolutions in TF32)
    assert (r["allow_tf32_matmul"], r["allow_tf32_cudnn"]) == (False, False)
