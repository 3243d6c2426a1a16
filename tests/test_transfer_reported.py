"""The published transfer figures: every row has a source and a verified flag; the issue's figures are there."""

from __future__ import annotations

import pytest

from bench.errors import ResultsError
from bench.transfer.reported import COLUMNS, load_reported, reported_for

# The figures issue 25 names, typed from the issue (model_id or model, dataset, probe, shots) -> value.
ISSUE = {
    ("timm:resnetv2_50x1_bit.goog_in21k", "cifar10", "finetune", "1"): 57.9,
    ("timm:resnetv2_50x1_bit.goog_in21k", "cifar10", "finetune", "5"): 82.3,
    ("timm:resnetv2_50x1_bit.goog_in21k", "cifar100", "finetune", "1"): 35.2,
    ("timm:resnetv2_50x1_bit.goog_in21k", "cifar100", "finetune", "5"): 65.5,
    ("timm:vit_small_patch16_224.dino", "imagenet-1k", "knn", "full"): 74.5,
    ("timm:vit_small_patch16_224.dino", "imagenet-1k", "linear", "full"): 77.0,
    ("Supervised ResNet-50 (SimCLR's baseline)", "cifar10", "logreg", "full"): 93.6,
    ("Supervised ResNet-50 (SimCLR's baseline)", "cifar100", "logreg", "full"): 78.3,
    ("Supervised ResNet-50 (SimCLR's baseline)", "flowers102", "logreg", "full"): 94.7,
    ("timm:vit_large_patch14_clip_224.openai", "cifar10", "logreg", "full"): 98.0,
    ("timm:vit_large_patch14_clip_224.openai", "cifar100", "logreg", "full"): 87.5,
    ("timm:vit_large_patch14_clip_224.openai", "flowers102", "logreg", "full"): 99.2,
    ("Sup-100% ResNet-50 (VTAB)", "vtab-1k", "finetune", "vtab1k"): 66.4,
}


def test_every_issue_figure_is_there_once_with_its_value():
    figures = load_reported()
    got = {(f.model_id or f.model, f.dataset, f.probe, f.shots): f.value for f in figures}
    assert len(got) == len(figures) == len(ISSUE)
    assert got == ISSUE


def test_every_row_has_a_source_a_protocol_and_a_verified_flag_and_unverified_ones_say_why():
    for f in load_reported():
        assert f.source.strip() and f.protocol.strip(), f
        assert isinstance(f.verified, bool)
        assert "http" not in f.source  # citations, not URLs
        if not f.verified:
            assert f.note.strip(), f
        if f.low is not None:
            assert f.low <= f.value <= f.high


def test_bit_rows_carry_the_readme_min_and_max():
    bit = {f.shots: (f.low, f.value, f.high) for f in reported_for("cifar100", "timm:resnetv2_50x1_bit.goog_in21k")}
    assert bit == {"1": (34.6, 35.2, 38.6), "5": (64.7, 65.5, 66.0)}


def _write(path, row):
    header = ",".join(COLUMNS)
    path.write_text(header + "\n" + row + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("m,,cifar10,knn,full,top1,74.5,,,p,src,maybe,", "verified=yes|no"),
        ("m,,cifar10,knn,full,top1,74.5,,,p,,yes,", "needs a source"),
        ("m,,cifar10,knn,full,top1,seventy,,,p,src,yes,", "is not a number"),
        ("m,,cifar10,knn,full,top1,,,,p,src,yes,", "has no value"),
        ("m,,cifar10,knn,full", "lacks"),
    ],
)
def test_a_malformed_row_is_named(tmp_path, row, message):
    with pytest.raises(ResultsError, match=message):
        load_reported(_write(tmp_path / "t.csv", row))
