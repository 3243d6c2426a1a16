"""`bench transfer --probes finetune`: the BiT fine-tune wired into the transfer run.

The oracle of the wiring is `finetune()` called directly on the images the probe should train on (train + val
for full data, the shots alone for few-shot, in row order): the probe's predictions must be its logits'
ranking. End to end through the CLI: the record holds what the HyperRule decided, the fit set, and a changed
fine-tune setting is a new entry while an identical rerun skips.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.transfer import probes
from bench.transfer.finetune import FinetuneConfig, finetune


def _images(n: int, seed: int) -> tuple[list[Image.Image], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    return [Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for _ in labels], labels


@pytest.fixture(scope="module")
def model():
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", pretrained=False).eval()


@pytest.mark.parametrize("few_shot", [False, True])
def test_the_probe_trains_on_what_the_protocol_says_and_ranks_the_logits(model, few_shot):
    train, ty = _images(6, 1)
    val, vy = _images(3, 2)
    test, _ = _images(4, 3)
    parts = {"train": train, "val": val, "test": test}
    pixels = probes.Pixels(model, (0.5,) * 3, (0.5,) * 3, "cpu", lambda part, idx: [parts[part][i] for i in idx])
    feats = np.zeros((1, 1))  # the fine-tune does not read the features
    settings = probes.FinetuneSettings(steps=2, batch_size=4)
    data = probes.ProbeInput(feats, ty, feats, vy, feats, 3, few_shot, np.arange(6), np.arange(3), np.arange(4), pixels, seed=7)
    out = probes.PROBES["finetune"].run(data, settings)

    fit_images, fit_labels = (train, ty) if few_shot else (train + val, np.concatenate([ty, vy]))
    direct = finetune(
        model, fit_images, fit_labels, test, num_classes=3, mean=(0.5,) * 3, std=(0.5,) * 3, seed=7,
        device=torch.device("cpu"), config=FinetuneConfig(batch_size=4, steps=2),
    )  # fmt: skip
    assert out.ranked[""].tolist() == np.argsort(-direct.logits, axis=1, kind="stable")[:, :3].tolist()
    assert out.record["n_fit"] == len(fit_labels) and out.record["fit_on"] == ("train" if few_shot else "train+val")
    assert out.record["steps_run"] == 2 and out.record["seed"] == 7


@pytest.mark.slow
def test_bench_transfer_finetune_end_to_end_on_digits(tmp_path):
    def args(steps: int) -> list[str]:
        return ["transfer", "--models", "test_resnet", "--weights", "random", "--dataset", "digits", "--limit", "60",
                "--probes", "finetune", "--finetune-steps", str(steps), "--finetune-batch-size", "8", "--device", "cpu",
                "--results-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--no-progress", "--json"]  # fmt: skip

    assert main(args(2)) == 0
    (path,) = sorted((tmp_path / "r").rglob("*finetune*.json"))
    rec = json.loads(path.read_text())
    assert rec["key"]["probe"] == "finetune" and rec["key"]["settings"]["steps"] == 2
    assert rec["key"]["settings"]["recipe"] == "bit-hyperrule" and rec["key"]["seed"] == 0
    ep = rec["episodes"][0]["probe"]
    assert ep["fit_on"] == "train+val" and ep["n_fit"] == rec["n"]["train"] + rec["n"]["val"]
    assert list(ep["resolution"]) == [160, 128]  # digits are 8x8: the HyperRule's small-image bucket
    assert main(args(2)) == 0 and len(list((tmp_path / "r").rglob("*finetune*.json"))) == 1  # identical: skipped
    assert main(args(3)) == 0
    assert len(list((tmp_path / "r").rglob("*finetune*.json"))) == 2  # another setting, another entry
