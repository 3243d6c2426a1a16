"""Reported figures: timm's tables and their pin, the Δ protocol rule, paper and extra training data
of every weight in the zoo, the papers' own table, the ILSVRC winners, and `bench list`.

Oracles are independent of the code under test: the shipped CSVs parsed here with the csv module,
hashes recomputed with hashlib, git's own answers about the pinned repository, and figures read off
the files by hand.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from bench.models import reference as R

ROOT = Path(__file__).resolve().parents[1]
TABLES = ROOT / "bench" / "resources" / "timm_results"
SCRIPT = ROOT / "scripts" / "update_timm_results.py"
# A local clone or bare repo of huggingface/pytorch-image-models, when this machine has one.
TIMM_REPO = Path(os.environ.get("BENCH_TIMM_REPO", "/work/.mirror/huggingface+pytorch-image-models/repo"))
IMN = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def _script():
    spec = importlib.util.spec_from_file_location("update_timm_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def pin() -> dict:
    return json.loads((TABLES / "PIN.json").read_text())


@pytest.fixture(scope="module")
def zoo() -> list[str]:
    import timm

    return timm.list_pretrained()


# ---------------------------------------------------------------------------------------------
# The shipped timm tables and their pin


def test_pin_names_a_full_commit_and_the_sha256_of_every_shipped_file(pin):
    assert re.fullmatch(r"[0-9a-f]{40}", pin["commit"])
    assert pin["repo"] == "https://github.com/huggingface/pytorch-image-models" and pin["branch"] == "main"
    assert pin["path"] == "results/" and re.match(r"\d{4}-\d\d-\d\dT", pin["date"])
    shipped = sorted(p.name for p in TABLES.glob("*.csv"))
    assert shipped == sorted(pin["sha256"]) == sorted(_script().FILES)
    for name, digest in pin["sha256"].items():
        assert hashlib.sha256((TABLES / name).read_bytes()).hexdigest() == digest, name
    assert R.timm_pin() == pin


@pytest.mark.skipif(not TIMM_REPO.is_dir(), reason="no local copy of pytorch-image-models (set BENCH_TIMM_REPO)")
def test_pin_is_on_mains_first_parent_history_and_the_copies_are_its_files(pin):
    git = ["git", "-C", str(TIMM_REPO)]
    first_parent = subprocess.run(
        [*git, "rev-list", "--first-parent", pin["branch"]], capture_output=True, text=True, check=True
    ).stdout.split()
    assert pin["commit"] in first_parent
    for name in pin["sha256"]:
        blob = subprocess.run([*git, "show", f"{pin['commit']}:results/{name}"], capture_output=True, check=True).stdout
        assert blob == (TABLES / name).read_bytes(), name
    date = subprocess.run(
        [*git, "show", "-s", "--format=%cI", pin["commit"]], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert date == pin["date"]


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "GIT_AUTHOR_DATE": "2025-01-02T03:04:05+00:00",
        "GIT_COMMITTER_DATE": "2025-01-02T03:04:05+00:00",
    }
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_update_script_copies_a_main_commit_and_refuses_a_side_branch_commit(tmp_path):
    script = _script()
    repo = tmp_path / "timm"
    (repo / "results").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for i, name in enumerate(script.FILES):
        (repo / "results" / name).write_text(f"model,img_size,top1\nm{i}.a,224,70.0\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "results v1")
    _git(repo, "checkout", "-q", "-b", "side")
    (repo / "results" / "results-imagenet.csv").write_text("model,img_size,top1\nm0.a,224,71.5\n")
    _git(repo, "commit", "-qam", "side change")
    side = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = _git(repo, "rev-parse", "HEAD")

    out = tmp_path / "out"
    pin = script.update(repo, out)
    assert pin["commit"] == merge  # the newest first-parent commit that changed a result file
    assert (out / "results-imagenet.csv").read_text() == "model,img_size,top1\nm0.a,224,71.5\n"
    recorded = json.loads((out / "PIN.json").read_text())
    assert recorded == pin and recorded["date"] == "2025-01-02T03:04:05+00:00"
    assert recorded["sha256"]["results-sketch.csv"] == hashlib.sha256(b"model,img_size,top1\nm7.a,224,70.0\n").hexdigest()
    with pytest.raises(SystemExit, match="not on the first-parent history"):
        script.update(repo, tmp_path / "out2", commit=side)
    assert not (tmp_path / "out2").exists()


def test_every_tag_timm_reports_has_its_figures_with_size_and_crop():
    rows = _csv(TABLES / "results-imagenet.csv")
    by_tag: dict[str, list[dict]] = {}
    for r in rows:
        by_tag.setdefault(r["model"], []).append(r)
    assert len(by_tag) == 1266 and len(rows) == 1556
    for tag, expected in by_tag.items():
        got = R.timm_figures(tag)
        assert [(f.top1, f.img_size, f.crop_pct) for f in got] == [
            (float(r["top1"]), int(r["img_size"]), float(r["crop_pct"])) for r in expected
        ]
        assert R.timm_reference(tag)["top1"] in {float(r["top1"]) for r in expected}


def test_figures_read_off_the_files():
    a1 = R.timm_figures("resnet50.a1_in1k")
    assert [(f.top1, f.top5, f.img_size, f.crop_pct, f.interpolation, f.params_m) for f in a1] == [
        (81.240, 95.112, 288, 1.0, "bicubic", 25.56),
        (80.382, 94.598, 224, 0.95, "bicubic", 25.56),
    ]
    assert R.timm_reference("resnet50.a1_in1k")["top1"] == 81.240  # timm's default eval: the 288 test size
    assert R.timm_reference("resnet50.tv_in1k")["top1"] == 76.156  # re-run in 2025 (was 76.130)
    assert R.timm_figures("eva_giant_patch14_336.clip_ft_in1k")[0].params_m == 1013.01  # "1,013.01" in the file
    assert R.timm_figures("eva_giant_patch14_336.clip_ft_in1k")[0].crop_mode == "squash"  # from its pretrained config
    clip = R.timm_figures("vit_base_patch16_clip_224.laion2b_ft_in1k")
    assert [(f.top1, f.img_size, f.crop_pct) for f in clip] == [(85.488, 224, 1.0)]
    assert R.timm_figures("resnet50.a1_in1k", "imagenet-real")[0].top1 == 86.579
    assert [f.top1 for f in R.timm_figures("resnet50.a1_in1k", "imagenet-a", "val")] == [15.840, 9.973]
    assert R.timm_figures("resnet50.a1_in1k", "imagenet-a") == []  # ImageNet-A's split is "val"
    assert R.timm_figures("no_such_model.x") == [] and R.timm_reference("no_such_model.x") == {}


def test_every_dataset_file_is_reachable():
    for (dataset, split), name in R.TIMM_FILES.items():
        first = _csv(TABLES / name)[0]
        assert R.timm_figures(first["model"], dataset, split)[0].top1 == float(first["top1"]), name


# ---------------------------------------------------------------------------------------------
# The Δ rule


def _fig(**kw) -> R.Figure:
    base = dict(
        model="resnet50.a1_in1k",
        dataset="imagenet-1k",
        split="validation",
        top1=81.24,
        img_size=288,
        crop_pct=1.0,
        crop_mode="center",
        interpolation="bicubic",
        **IMN,
    )
    return R.Figure(**{**base, **kw})


def _run(**kw) -> R.RunProtocol:
    base = dict(
        dataset="imagenet-1k",
        split="validation",
        weights="pretrained",
        policy="model",
        input_size=(288, 288),
        crop_pct=1.0,
        crop_mode="center",
        interpolation="bicubic",
        limit=None,
        n=50000,
        size=50000,
        **IMN,
    )
    return R.RunProtocol(**{**base, **kw})


@pytest.mark.parametrize(
    "change, reason",
    [
        ({}, "same protocol"),
        ({"input_size": (224, 224)}, "input 224 ≠ 288"),
        ({"input_size": (256, 320)}, "input 256x320 ≠ 288"),
        ({"crop_pct": 0.95}, "crop_pct 0.95 ≠ 1.0"),
        ({"crop_mode": "squash"}, "crop mode squash ≠ center"),
        ({"interpolation": "bilinear"}, "bilinear ≠ bicubic"),
        ({"mean": (0.5, 0.5, 0.5)}, "mean/std differ"),
        ({"policy": "fixed"}, "fixed transform"),
        ({"overrides": ("crop_pct",)}, "overridden crop_pct"),
        ({"weights": "random"}, "random weights"),
        ({"limit": 1000, "n": 1000}, "--limit 1000"),
        ({"n": 49990}, "n 49990 of 50000"),
        ({"n": 1000, "size": 1000}, "split has 1000 of 50000 images"),
        ({"n": None}, "n unknown"),
        ({"input_size": None}, "transform not recorded"),
        ({"dataset": "imagenet-v2", "split": "val"}, "reported on imagenet-1k"),
    ],
)
def test_comparable_only_under_the_figures_own_protocol(change, reason):
    ok, why = R.comparable(_run(**change), _fig())
    assert (ok, why) == (reason == "same protocol", reason)


def test_comparable_edge_cases():
    assert R.comparable(_run(), None) == (False, "no reported figure")
    # crop_pct as rounded by torchvision (224/232 -> 0.9655) matches timm's 3-decimal column within tolerance
    assert R.comparable(
        _run(input_size=(224, 224), crop_pct=0.9655, interpolation="bilinear"),
        _fig(img_size=224, crop_pct=0.9655, interpolation="bilinear"),
    )[0]
    v2 = {"dataset": "imagenet-v2", "split": "val", "n": 10000, "size": 10000}
    assert R.comparable(
        _run(**v2, data_source="/d/imagenetv2-matched-frequency-format-val"), _fig(dataset="imagenet-v2", split="val")
    )[0]
    assert R.comparable(
        _run(**v2, data_source="/d/imagenetv2-threshold0.7-format-val"), _fig(dataset="imagenet-v2", split="val")
    ) == (False, "ImageNetV2 variant ≠ matched-frequency")


def test_run_protocol_from_records_old_and_new():
    new = {
        "key": {"dataset": "imagenet-1k", "split": "validation", "weights": "pretrained", "transform": "model"},
        "transform": {
            "policy": "model",
            "input_size": [3, 288, 288],
            "crop_pct": 1.0,
            "crop_mode": "squash",
            "interpolation": "bicubic",
            "mean": list(IMN["mean"]),
            "std": list(IMN["std"]),
        },
        "dataset": {"size": 50000, "limit": None, "source": "/data"},
        "accuracy": {"n": 50000},
    }
    run = R.RunProtocol.from_result(new)
    assert (run.input_size, run.crop_pct, run.crop_mode, run.n, run.size, run.limit) == (
        (288, 288),
        1.0,
        "squash",
        50000,
        50000,
        None,
    )
    old = json.loads(json.dumps(new))
    del old["transform"]["crop_mode"]  # records from before crop_mode was recorded: all centre crops
    assert R.RunProtocol.from_result(old).crop_mode == "center"
    assert R.comparable(R.RunProtocol.from_result(old), _fig()) == (True, "same protocol")
    bare = {"key": new["key"], "accuracy": {"n": 1000}}
    assert R.comparable(R.RunProtocol.from_result(bare), _fig()) == (False, "transform not recorded")


def test_closest_figure_is_the_one_at_the_runs_size():
    figs = R.timm_figures("resnet50.a1_in1k")
    assert R.closest_figure(_run(input_size=(224, 224), crop_pct=0.95), figs).top1 == 80.382
    assert R.closest_figure(_run(), figs).top1 == 81.240
    assert R.closest_figure(_run(input_size=(160, 160)), figs).top1 == 81.240  # no such size: the first, and no Δ
    assert R.closest_figure(_run(), []) is None


# ---------------------------------------------------------------------------------------------
# Extra training data and paper of every weight

# Tokens that name a corpus beyond ImageNet-1k, written down here independently of pretraining_data.csv.
CORPUS_TOKENS = {
    "in21k",
    "in22k",
    "in12k",
    "inw21k",
    "jft",
    "laion2b",
    "laion400m",
    "laiona",
    "openai",
    "datacomp1b",
    "datacompxl",
    "dfn2b",
    "dfn5b",
    "dfndr2b",
    "metaclip",
    "metaclip2",
    "yfcc100m",
    "yfcc15m",
    "cc12m",
    "ig1b",
    "swag",
    "seer",
    "webli",
    "m30m",
    "m38m",
    "merged2b",
    "lvd142m",
    "lvd1689m",
    "sat493m",
    "sa1b",
    "florence2",
    "bamboo",
    "mclip",
    "mclip2",
    "pali",
    "pali2",
    "gemma3n",
    "gemma4",
    "qwen3",
    "radio",
    "6m",
}


def test_no_tag_that_names_a_corpus_reads_as_no_extra_data(zoo):
    wrong = [
        t
        for t in zoo
        if CORPUS_TOKENS & set(t.split(".", 1)[1].lower().split("_"))
        and R.weight_info(f"timm:{t}").extra_data in (R.NONE, R.UNKNOWN, None)
    ]
    assert wrong == []
    assert [t for t in zoo if R.weight_info(f"timm:{t}").extra_data == R.UNKNOWN] == []
    assert len(zoo) > 1500


def test_web_data_fine_tunes_named_in_the_issue_are_not_none(zoo):
    patterns = (
        "*.laion2b_ft_in1k",
        "*.openai_ft_in1k",
        "*.fb_ssl_yfcc100m_*",
        "*.fb_wsl_ig1b_*",
        "*.fb_swsl_ig1b_*",
        "*.webli_ft_in1k",
        "*.seer_ft_in1k",
        "*.swag_ft_in1k",
    )
    import fnmatch

    tags = [t for t in zoo if any(fnmatch.fnmatchcase(t, p) for p in patterns)]
    assert len(tags) >= 28
    assert {t: R.extra_data(f"timm:{t}") for t in tags if R.extra_data(f"timm:{t}") == R.NONE} == {}


@pytest.mark.parametrize(
    "model, chain",
    [
        ("timm:vit_base_patch16_clip_224.laion2b_ft_in12k_in1k", ("LAION-2B", "ImageNet-12k")),
        ("timm:vit_base_patch16_clip_224.openai_ft_in12k_in1k", ("WIT-400M", "ImageNet-12k")),
        ("timm:vit_base_patch16_clip_224.laion2b_ft_in1k", ("LAION-2B",)),
        ("timm:eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", ("Merged-38M", "ImageNet-22k")),
        ("timm:eva02_large_patch14_448.mim_in22k_ft_in22k_in1k", ("ImageNet-22k",)),
        ("timm:eva_giant_patch14_336.clip_ft_in1k", ("Merged-30M", "LAION-400M")),
        ("timm:resnet50.fb_ssl_yfcc100m_ft_in1k", ("YFCC100M (unlabelled)",)),
        ("timm:resnext101_32x8d.fb_wsl_ig1b_ft_in1k", ("IG-1B (hashtags)",)),
        ("timm:regnety_160.swag_ft_in1k", ("IG-3.6B (hashtags)",)),
        ("timm:regnety_320.seer_ft_in1k", ("IG-1B (uncurated)",)),
        ("timm:vit_so400m_patch14_siglip_378.webli_ft_in1k", ("WebLI",)),
        ("timm:tf_efficientnet_b0.ns_jft_in1k", ("JFT-300M (unlabelled)",)),
        ("timm:vit_base_patch16_224.augreg2_in21k_ft_in1k", ("ImageNet-21k",)),
        ("timm:convnext_base.clip_laion2b_augreg_ft_in12k_in1k", ("LAION-2B", "ImageNet-12k")),
        ("timm:tf_efficientnet_b0.ap_in1k", ()),
        ("timm:resnet50.a1_in1k", ()),
        ("tv:vit_b_16.IMAGENET1K_SWAG_E2E_V1", ("IG-3.6B (hashtags)",)),
        ("tv:vit_b_16.IMAGENET1K_V1", ()),
    ],
)
def test_training_data_chains(model, chain):
    assert R.training_data(model) == chain
    assert R.extra_data(model) == (" → ".join(chain) if chain else R.NONE)


@pytest.mark.parametrize(
    "model, paper, arxiv, year",
    [
        (
            "timm:tf_efficientnet_lite0.in1k",
            "Higher accuracy on vision models with EfficientNet-Lite (TensorFlow Blog)",
            None,
            2020,
        ),
        ("timm:tf_efficientnet_b0.ap_in1k", "Adversarial Examples Improve Image Recognition", "1911.09665", 2019),
        (
            "timm:tf_efficientnet_b0.ns_jft_in1k",
            "Self-training with Noisy Student improves ImageNet classification",
            "1911.04252",
            2019,
        ),
        (
            "timm:tf_efficientnet_cc_b0_4e.in1k",
            "CondConv: Conditionally Parameterized Convolutions for Efficient Inference",
            "1904.04971",
            2019,
        ),
        (
            "timm:tf_efficientnet_b0.aa_in1k",
            "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
            "1905.11946",
            2019,
        ),
        ("timm:resnet50.a1_in1k", "ResNet strikes back: An improved training procedure in timm", "2110.00476", 2021),
        ("timm:resnet50.tv_in1k", "Deep Residual Learning for Image Recognition", "1512.03385", 2015),
        (
            "timm:vit_base_patch16_clip_224.openai",
            "Learning Transferable Visual Models From Natural Language Supervision",
            "2103.00020",
            2021,
        ),
        ("timm:mobilenetv3_large_100.miil_in21k", "ImageNet-21K Pretraining for the Masses", "2104.10972", 2021),
        ("timm:seresnext50_32x4d.racm_in1k", "Squeeze-and-Excitation Networks", "1709.01507", 2017),
        ("timm:xcit_tiny_12_p8_224.fb_in1k", "XCiT: Cross-Covariance Image Transformers", "2106.09681", 2021),
        (
            "tv:vit_b_16.IMAGENET1K_SWAG_E2E_V1",
            "Revisiting Weakly Supervised Pre-Training of Visual Perception Models",
            "2201.08371",
            2022,
        ),
        ("tv:alexnet.IMAGENET1K_V1", "One weird trick for parallelizing convolutional neural networks", "1404.5997", 2014),
    ],
)
def test_papers_of_weights(model, paper, arxiv, year):
    info = R.weight_info(model)
    assert (info.paper, info.arxiv, info.year) == (paper, arxiv, year)


def test_paper_rule_is_unambiguous_and_covers_the_zoo(zoo):
    rules = R._paper_rules()
    assert all(re.fullmatch(r"\d{4}\.\d{4,5}", r.row["arxiv"]) for r in rules if r.row.get("arxiv"))
    ambiguous = {}
    for tag in zoo:
        model_id = f"timm:{tag}"
        hits = [r for r in rules if r.regex is not None and r.regex.fullmatch(model_id)]
        best = max((r.rank for r in hits), default=None)
        papers = {r.row["paper"] for r in hits if r.rank == best}
        if len(papers) > 1:
            ambiguous[tag] = papers
    assert ambiguous == {}
    # timm's own architectures with no paper ("Paper: TBD" in csatv2, the *ts / *q ByobNet experiments, test nets)
    timm_originals = re.compile(
        r"csatv2|test_|(eca_|gc)?resnet(32|33|50t|51q|61q)|gcresnet|eca_resnet33ts|resnet3[23]ts|resnet[56]1q"
    )
    without = [t for t in zoo if R.weight_info(f"timm:{t}").paper is None]
    assert [t for t in without if not timm_originals.match(t)] == []
    assert len(without) < 20


def test_model_paper_keeps_its_shape():
    assert R.model_paper("somebody:else") == {"paper": None, "year": None, "extra_data": None}
    assert R.model_paper("timm:convnext_base.fb_in22k_ft_in1k") == {
        "paper": "A ConvNet for the 2020s",
        "year": 2022,
        "extra_data": "ImageNet-22k",
    }


# ---------------------------------------------------------------------------------------------
# Papers' own table and the ILSVRC winners


def test_paper_table_has_protocol_split_and_a_precise_source():
    rows = {r["model"]: r for r in _csv(ROOT / "bench" / "resources" / "imagenet_reported.csv")}
    for name, r in rows.items():
        assert re.match(r"(single-crop|10-crop|multi-crop)", r["protocol"]), name
        assert r["split"] in ("val", "test"), name
        assert re.search(r"Table \d|§\d|abstract", r["source"]) and re.search(
            r"arXiv:\d{4}\.\d{4,5}v\d|NIPS 2012", r["source"]
        ), name
    for alexnet in ("AlexNet (1 CNN)", "AlexNet (7 CNNs*)"):
        assert rows[alexnet]["protocol"].startswith("10-crop") and "§4.1" in rows[alexnet]["source"]
    assert (rows["AlexNet (1 CNN)"]["top1"], rows["AlexNet (7 CNNs*)"]["top1"]) == ("59.3", "63.3")
    assert rows["CoCa (finetuned)"]["params_m"] == "1000" and "image encoder" in rows["CoCa (finetuned)"]["params_definition"]
    for b in ("EfficientNet-B0", "EfficientNet-B7"):
        assert "arXiv:1905.11946v5" in rows[b]["source"] and "ICML 2019" in rows[b]["source"]
    assert rows["EfficientNet-B0"]["top1"] == "77.1" and "76.3" in rows["EfficientNet-B0"]["source"]
    # top-1 = 100 - the error the source quotes
    assert float(rows["ResNet-50"]["top1"]) == pytest.approx(100 - 22.85) and float(
        rows["AlexNet (1 CNN)"]["top5"]
    ) == pytest.approx(100 - 18.2)


def test_ilsvrc_winners_follow_one_rule_with_an_extra_data_column():
    rows = {int(r["year"]): r for r in R.ilsvrc_winners()}
    assert sorted(rows) == list(range(2010, 2018))
    assert all(r["extra_data"] for r in rows.values())
    assert (rows[2012]["top5_error_test"], rows[2012]["extra_data"]) == ("16.4", "none")
    assert rows[2012]["outside_data_entry"].startswith("15.3") and "Fall 2011" in rows[2012]["outside_data_entry"]
    assert "0.16422" in rows[2012]["source"] and "0.15315" in rows[2012]["source"]
    assert (rows[2013]["team"], rows[2013]["top5_error_test"], rows[2013]["extra_data"]) == ("Clarifai", "11.7", "none")
    assert "supplied ILSVRC training data alone" in R.ILSVRC_RULE


# ---------------------------------------------------------------------------------------------
# bench list


def test_bench_list_shows_reported_top1_with_its_protocol_params_paper_year_and_extra_data(capsys):
    from bench import cli

    assert cli.main(["list", "vit_base_patch16_clip_224.laion2b_ft_in1k"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("timm:vit_base_patch16_clip_224.laion2b_ft_in1k"))
    assert "85.49 (224px, crop 1.0)" in row and "86.57" in row and "2022" in row and row.rstrip().endswith("LAION-2B")
    assert cli.main(["list", "resnet50.a1_in1k", "--format", "json"]) == 0
    (a1,) = json.loads(capsys.readouterr().out)
    assert (a1["top1"], a1["input"], a1["crop_pct"], a1["params_m"], a1["year"], a1["extra_data"]) == (
        81.24,
        288,
        1.0,
        25.56,
        2021,
        "none",
    )
    assert cli.main(["list", "resnet50.tv_in1k", "--format", "tsv"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert dict(zip(header.split("\t"), line.split("\t")))["top1"] == "76.156"
