"""Label reconciliation by WordNet id."""

from __future__ import annotations

import pytest

from bench.data import labels as L
from bench.errors import LabelSpaceError


def test_imagenet_1k_is_sorted_wnids():
    space = L.imagenet_1k()
    assert len(space) == 1000
    assert list(space.wnids) == sorted(space.wnids)
    assert space.wnids[0] == "n01440764"  # tench
    assert space.wnids[1] == "n01443537"  # goldfish


def test_tiny_imagenet_order_matches_hf():
    space = L.tiny_imagenet()
    assert len(space) == 200 and list(space.wnids) == sorted(space.wnids)
    assert space.wnids[0] == "n01443537" and space.names[0].startswith("goldfish")


def test_tiny_projection_onto_imagenet_1k_known_values():
    proj = L.project(L.tiny_imagenet(), L.imagenet_1k())
    idx = dict(zip(proj.dataset.wnids, proj.model_index))
    assert proj.model_index[0] == 1  # goldfish
    assert idx["n03126707"] == 517  # crane, the machine
    assert idx["n12267677"] == 988  # acorn
    assert proj.coverage == 1.0 and len(proj.mapped) == 200 and proj.unmapped_wnids == []
    # restricted columns are exactly the mapped head indices, in dataset order
    assert proj.restricted_model_indices[:2] == [1, proj.model_index[1]]


def test_names_are_never_used_to_match():
    # Two ImageNet classes are both called "crane" (bird n02012849, machine n03126707): only wnids tell them apart.
    inet = L.imagenet_1k()
    assert inet.names[inet.index["n02012849"]] == inet.names[inet.index["n03126707"]] == "crane"
    renamed = L.LabelSpace("renamed", ("n03126707", "n02012849"), ("bird?", "machine?"))
    proj = L.project(renamed, inet)
    assert proj.model_index == (517, 134)


def test_background_head_shifts_by_one():
    proj = L.project(L.tiny_imagenet(), L.for_head(1001))
    assert proj.model_index[0] == 2  # background at 0, goldfish at 1+1


def test_21k_head_is_mapped_by_wnid():
    space = L.for_head(21843)
    assert space.name == "imagenet-21k-goog"
    proj = L.project(L.tiny_imagenet(), space)
    assert space.wnids[proj.model_index[0]] == "n01443537"
    # A real trap: ImageNet-1k's teddy bear (n04399382) is not in timm's 21k/22k synset lists,
    # so a 21k head cannot predict it; it is reported, never silently dropped.
    assert proj.unmapped_wnids == ["n04399382"] and proj.coverage == 0.995


def test_partial_head_reports_unmapped(tmp_path):
    f = tmp_path / "head.txt"
    f.write_text("n01443537\nn12267677\n")
    proj = L.project(L.tiny_imagenet(), L.from_file(f))
    assert proj.mapped == [0, 199] and len(proj.unmapped_wnids) == 198
    assert proj.summary()["coverage"] == pytest.approx(0.01)


def test_unknown_head_size_is_an_error_naming_the_fix():
    with pytest.raises(LabelSpaceError, match="--label-space"):
        L.for_head(37)
