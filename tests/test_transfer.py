"""bench transfer end to end on digits: features against the libraries' own pre-logits, the feature cache
(bit-identical, resumable, sharded), splits, records and reruns, and the bad inputs that exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import cli
from bench.data import classsets, transforms
from bench.store import transfer as store
from bench.transfer import cache, features, presets, splits


@pytest.fixture(scope="session")
def digits_set():
    return classsets.digits()


@pytest.fixture(scope="session")
def tiny_resnet():
    import torch

    from bench import models

    spec = models.resolve("test_resnet")
    torch.manual_seed(0)
    model, _ = models.build(spec, "random")
    return spec, model


# --- data and splits --------------------------------------------------------------------------------


def test_digits_are_sklearns_images_and_the_split_is_fixed_and_stratified(digits_set):
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    assert len(digits_set) == 1797 and digits_set.labels == d.target.tolist()
    img = np.asarray(Image.open(__import__("io").BytesIO(digits_set.raw(5))))
    assert img.shape == (8, 8) and np.array_equal(img, np.round(d.images[5] * 255 / 16).astype(np.uint8))
    sp = splits.make(presets.resolve("digits"), {"all": digits_set})
    tr, va, te = (set(p.indices) for p in (sp.train, sp.val, sp.test))
    assert not tr & va and not tr & te and not va & te and len(tr | va | te) == 1797
    counts = np.bincount(d.target)
    for c in range(10):
        n_te = sum(1 for i in te if d.target[i] == c)
        n_va = sum(1 for i in va if d.target[i] == c)
        assert n_te == round(0.2 * counts[c]) and n_va == round(0.2 * counts[c])
    assert sp == splits.make(presets.resolve("digits"), {"all": digits_set})  # fixed


def test_split_conventions_cifar_tail_flowers_own_val_and_vtab1k():
    from bench.data.classsets import space
    from bench.data.datasets import ImageSet

    def fake(n, split, c=10):
        return ImageSet("x", split, space("x", [str(i) for i in range(c)]), [i % c for i in range(n)], "fake", [b""] * n)

    sp = splits.make(presets.PRESETS["cifar10"], {"train": fake(1000, "train"), "test": fake(200, "test")})
    assert sp.train.indices == tuple(range(900)) and sp.val.indices == tuple(range(900, 1000))  # VTAB: last 10 %
    assert sp.test.source == "test" and len(sp.test) == 200
    sets = {"train": fake(1020, "train"), "validation": fake(1020, "validation"), "test": fake(300, "test")}
    sp = splits.make(presets.PRESETS["flowers102"], sets)
    assert sp.val.source == "validation" and len(sp.val) == 1020 and len(sp.train) == 1020
    v = splits.make(presets.PRESETS["flowers102"], sets, "vtab1k")
    assert v.train.indices == tuple(range(800)) and v.val.indices == tuple(range(200)) and v.val.source == "validation"
    with pytest.raises(Exception) as e:
        splits.make(presets.PRESETS["cifar10"], {"train": fake(500, "train"), "test": fake(10, "test")}, "vtab1k")
    assert getattr(e.value, "exit_code", None) == 2


# --- features ---------------------------------------------------------------------------------------


def test_timm_features_are_timms_own_pre_logits(digits_set, tiny_resnet):
    import torch
    from PIL import Image
    from timm.data import create_transform, resolve_data_config

    spec, model = tiny_resnet
    ts = transforms.resolve(spec, model)
    idx = list(range(0, 40, 3))
    got = features.extract(features.Extractor(model, spec.source), digits_set, idx, ts, "cpu", 8, workers=0)
    tf = create_transform(**resolve_data_config({}, model=model))  # timm's own eval transform
    x = torch.stack([tf(Image.open(__import__("io").BytesIO(digits_set.raw(i))).convert("RGB")) for i in idx])
    with torch.inference_mode():
        want = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    assert got.features.shape == want.shape == (len(idx), model.num_features)
    np.testing.assert_allclose(got.features, want, rtol=1e-4, atol=1e-5)
    assert got.indices.tolist() == idx and got.labels.tolist() == [digits_set.labels[i] for i in idx]


def test_torchvision_features_are_the_classifier_input():
    import torch
    import torchvision
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    ex = features.Extractor(model, "torchvision")
    assert ex.spec.module == "fc"
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        want = create_feature_extractor(model, {"flatten": "f"})(x)["f"]
        assert torch.equal(ex(x), want)


@pytest.mark.slow
def test_a_model_without_pooled_features_is_exit_2(tmp_path, capsys):
    rc = cli.main(
        [
            "transfer",
            "--models",
            "squeezenet1_0",
            "--weights",
            "random",
            "--dataset",
            "digits",
            "--limit",
            "10",
            "--results-dir",
            str(tmp_path / "r"),
            "--cache-dir",
            str(tmp_path / "c"),
            "--no-progress",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "no pooled features" in err and len(err.strip().splitlines()) == 2  # the split line, then the error


# --- the feature cache ------------------------------------------------------------------------------


def _extractor(tiny_resnet, digits_set, calls):
    spec, model = tiny_resnet
    ts = transforms.resolve(spec, model)
    ex = features.Extractor(model, spec.source)

    def extract(indices):
        calls.append(list(indices))
        return features.extract(ex, digits_set, indices, ts, "cpu", 8, workers=0)

    return extract


def test_cache_is_bit_identical_to_uncached_and_a_killed_extraction_resumes(tmp_path, tiny_resnet, digits_set):
    from bench.transfer import knn, logreg

    indices = list(range(0, 80, 2))
    calls: list = []
    extract = _extractor(tiny_resnet, digits_set, calls)
    uncached = extract(indices)
    fields = {"model": "test_resnet", "split": "demo"}

    class Killed(KeyboardInterrupt):
        pass

    def kill_after_first(j):
        raise Killed()

    c = cache.FeatureCache(tmp_path, fields, shard=16)
    calls.clear()
    with pytest.raises(Killed):
        c.get(indices, extract, after_shard=kill_after_first)
    assert calls == [indices[:16]]
    manifest = json.loads(c.manifest_path.read_text())
    assert manifest["done"] == [0] and manifest["complete"] is False
    calls.clear()
    got = cache.FeatureCache(tmp_path, fields, shard=16).get(indices, extract)
    assert calls == [indices[16:32], indices[32:40]]  # resumed after the finished shard
    assert got.cached_shards == 1
    assert np.array_equal(got.features, uncached.features) and np.array_equal(got.labels, uncached.labels)
    again = cache.FeatureCache(tmp_path, fields, shard=16).get(indices, lambda ix: pytest.fail("extracted again"))
    assert np.array_equal(again.features, uncached.features)
    # probe results from cached features are bit-identical to those from the uncached ones
    y, f = uncached.labels, uncached.features
    a = knn.knn(f[:25], y[:25], f[25:], 10).ranked
    b = knn.knn(again.features[:25], again.labels[:25], again.features[25:], 10).ranked
    assert all(np.array_equal(a[k], b[k]) for k in a)
    fa, fb = logreg.fit(f[:25], y[:25], 1e-2), logreg.fit(again.features[:25], again.labels[:25], 1e-2)
    assert np.array_equal(fa.coef, fb.coef)


def test_cache_of_another_format_is_refused(tmp_path):
    c = cache.FeatureCache(tmp_path, {"x": 1})
    c.dir.mkdir(parents=True)
    c.manifest_path.write_text(json.dumps({"format": 99}))
    with pytest.raises(cache.CacheVersionError) as e:
        c.get([1, 2], lambda ix: pytest.fail("must not extract"))
    assert e.value.exit_code == 2 and "cache format 99" in str(e.value)


def test_rank_shards_are_contiguous_and_cover_everything():
    blocks = [list(cache.rank_shards(7, r, 3)) for r in range(3)]
    assert blocks == [[0, 1, 2], [3, 4], [5, 6]]
    assert cache.shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]


# --- end to end -------------------------------------------------------------------------------------


def _transfer(tmp_path, *extra, models="test_resnet"):
    return cli.main(
        [
            "transfer",
            "--models",
            models,
            "--weights",
            "random",
            "--dataset",
            "digits",
            "--limit",
            "30",
            "--device",
            "cpu",
            "--results-dir",
            str(tmp_path / "results"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    rc = _transfer(tmp, models="test_resnet,test_vit")  # full data, both probes
    rc2 = _transfer(tmp, "--shots", "2", "--episodes", "2")  # few-shot on the cached features
    return tmp, max(rc, rc2)


@pytest.mark.slow
def test_end_to_end_records_match_independent_probes_on_the_cached_features(e2e):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    tmp, rc = e2e
    assert rc == 0
    records = store.read_all(tmp / "results")
    assert sorted((r.key.model, r.key.probe, r.key.shots) for r in records) == sorted(
        [(m, p, "full") for m in ("timm:test_resnet.r160_in1k", "timm:test_vit.r160_in1k") for p in ("knn", "logreg")]
        + [("timm:test_resnet.r160_in1k", p, "2") for p in ("knn", "logreg")]
    )
    # the features the run used, read back from the cache by the keys it recorded
    for r in [r for r in records if r.key.shots == "full" and r.key.model.startswith("timm:test_resnet")]:
        parts = {}
        for name, key in r.run["feature_cache"].items():
            d = tmp / "cache" / key[:2] / key
            arrays = [np.load(p) for p in sorted(d.glob("shard-*.npz"))]
            parts[name] = (np.concatenate([a["features"] for a in arrays]), np.concatenate([a["labels"] for a in arrays]))
        (tx, ty), (vx, vy), (sx, sy) = parts["train"], parts["val"], parts["test"]
        assert r.n == {"train": len(ty), "val": len(vy), "test": len(sy)} and len(sy) == 30
        bank_x, bank_y = np.concatenate([tx, vx]), np.concatenate([ty, vy])
        if r.key.probe == "knn":
            oracle = KNeighborsClassifier(20, metric="cosine", algorithm="brute", weights=lambda d: np.exp((1 - d) / 0.07))
            pred = oracle.fit(bank_x.astype(np.float64), bank_y).predict(sx.astype(np.float64))
            assert r.summary["top1"]["mean"] == pytest.approx(100 * (pred == sy).mean(), abs=1e-3)
            assert set(r.summary["variants"]) == {"k=10", "k=20", "k=100", "k=200"}
        else:
            ep = r.episodes[0]["probe"]
            assert len(ep["curve"]) >= 7 and ep["refit_on"] == "train+val"
            clf = LogisticRegression(C=1 / (len(bank_y) * ep["lambda"]), max_iter=1000, tol=1e-6).fit(
                bank_x.astype(np.float64), bank_y
            )
            assert r.summary["top1"]["mean"] == pytest.approx(100 * (clf.predict(sx) == sy).mean(), abs=1e-3)
    few = [r for r in records if r.key.shots == "2"]
    for r in few:
        assert len(r.episodes) == 2 and r.key.sampled is not None
        for ep in r.episodes:
            assert len(ep["indices"]) == 20  # 2 per class x 10 classes
        assert set(r.summary["top1"]) == {"mean", "sd", "min", "median", "max"}


@pytest.mark.slow
def test_rerun_skips_identical_entries_and_a_changed_setting_is_a_new_entry(e2e, capsys):
    tmp, _ = e2e
    capsys.readouterr()
    assert _transfer(tmp, "--shots", "full,2", "--episodes", "2", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in out["results"]] == ["skipped"] * 4  # nothing built, nothing extracted
    before = len(store.iter_paths(tmp / "results"))
    assert _transfer(tmp, "--shots", "2", "--episodes", "3", "--probes", "knn") == 0
    assert len(store.iter_paths(tmp / "results")) == before + 1
    assert _transfer(tmp, "--shots", "2", "--episodes", "2", "--probes", "knn", "--seed", "1") == 0
    assert len(store.iter_paths(tmp / "results")) == before + 2


@pytest.mark.parametrize(
    "args, text",
    [
        (["--dataset", "no-such-set"], "unknown transfer dataset"),
        (["--shots", "1000"], "fewer than --shots 1000"),
        (["--probes", "svm"], "--probes svm"),
        (["--shots", "0"], "--shots 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, text):
    rc = cli.main(
        [
            "transfer",
            "--models",
            "test_resnet",
            "--weights",
            "random",
            "--device",
            "cpu",
            "--no-progress",
            "--results-dir",
            str(tmp_path / "r"),
            "--cache-dir",
            str(tmp_path / "c"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and text in err
    assert err.strip().splitlines()[-1].startswith("bench: error:")


@pytest.mark.slow
def test_two_gloo_ranks_give_exactly_the_single_process_features_and_results(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"  # torchrun's per-rank default, for the single process too

    def run(prefix, where):
        args = ["-m", "bench", "transfer", "--models", "tf_efficientnet_lite0", "--dataset", "digits", "--limit", "20",
                "--probes", "knn,logreg", "--shots", "full,1", "--episodes", "2", "--cache-shard", "8", "--device", "cpu",
                "--no-progress", "--results-dir", str(where / "r"), "--cache-dir", str(where / "c")]  # fmt: skip
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    run([sys.executable], tmp_path / "one")
    run([torchrun, "--standalone", "--nproc-per-node", "2"], tmp_path / "two")
    one, two = store.read_all(tmp_path / "one" / "r"), store.read_all(tmp_path / "two" / "r")
    assert [r.key for r in one] == [r.key for r in two] and len(one) == 4
    for a, b in zip(one, two):
        assert a.summary == b.summary and a.episodes == b.episodes
        assert b.run["world_size"] == 2 and a.run["world_size"] == 1
    for a, b in zip(sorted((tmp_path / "one" / "c").rglob("shard-*.npz")), sorted((tmp_path / "two" / "c").rglob("shard-*.npz"))):
        assert a.relative_to(tmp_path / "one") == b.relative_to(tmp_path / "two")
        za, zb = np.load(a), np.load(b)
        assert np.array_equal(za["features"], zb["features"]) and np.array_equal(za["indices"], zb["indices"])


# --- any image-classification repo, ImageFolder; non-image data is refused ----------------------------


def _parquet(root, split, columns, features):
    import datasets as hfds

    (root / "data").mkdir(parents=True, exist_ok=True)
    hfds.Dataset.from_dict(columns, features=hfds.Features(features)).to_parquet(
        str(root / "data" / f"{split}-00000-of-00001.parquet")
    )


def _png(value):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (12, 10), (value, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def test_any_classlabel_repo_copy_and_image_folder_load_with_their_own_class_names(tmp_path):
    import datasets as hfds

    names = ["cat", "dog", "eel"]
    for split, n in (("train", 9), ("test", 6)):
        _parquet(
            tmp_path / "repo",
            split,
            {"img": [{"bytes": _png(i), "path": None} for i in range(n)], "animal": [i % 3 for i in range(n)]},
            {"img": hfds.Image(), "animal": hfds.ClassLabel(names=names)},
        )
    s = classsets.hub("someone/animals", "test", data_dir=tmp_path / "repo")
    assert list(s.label_space.wnids) == names and s.labels == [0, 1, 2, 0, 1, 2] and len(s) == 6
    from bench.data.images import open_rgb

    assert open_rgb(s.raw(4)).getpixel((0, 0)) == (4, 0, 0)
    pre = presets.resolve("someone/animals")
    sp = splits.make(pre, {"train": classsets.hub("someone/animals", "train", data_dir=tmp_path / "repo"), "test": s})
    assert len(sp.train) + len(sp.val) == 9 and len(sp.test) == 6
    for c, cls in enumerate(["b", "a"]):
        d = tmp_path / "folder" / "train" / cls
        d.mkdir(parents=True)
        (d / f"x{c}.png").write_bytes(_png(c))
    f = classsets.image_folder(tmp_path / "folder", "train")
    assert list(f.label_space.wnids) == ["a", "b"] and f.labels == [0, 1] and classsets.is_image_folder(tmp_path / "folder")


def test_a_non_image_dataset_is_exit_2(tmp_path):
    import datasets as hfds

    from bench.errors import DatasetUnavailableError

    _parquet(
        tmp_path,
        "train",
        {"text": ["a", "b"], "label": [0, 1]},
        {"text": hfds.Value("string"), "label": hfds.ClassLabel(names=["x", "y"])},
    )
    with pytest.raises(DatasetUnavailableError) as e:
        classsets.hub("someone/texts", "train", data_dir=tmp_path)
    assert e.value.exit_code == 2 and "not an image-classification dataset" in str(e.value)
