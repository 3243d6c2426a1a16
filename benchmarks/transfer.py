"""bench transfer's costs, each measured side by side with what it is compared to, in one run:

1. feature extraction (decode + the model's eval transform in loader workers + pre-logits) vs the
   forward-only rate of the same model and batch on tensors already on the device (goal: >= 0.9x);
2. the logistic-regression lambda search (coarse-then-bisect, warm starts) vs fitting scikit-learn
   from scratch once per grid value (all 45), on the same cached features (goal: >= 3x faster), and
   whether both pick the same lambda;
3. k-NN peak memory over the train bank at 50k x 2048 features on CPU for several chunk sizes: the
   working memory beyond the bank grows with the chunk, not with the test size.

    python benchmarks/transfer.py --device cpu                  # this machine
    python benchmarks/transfer.py --device cuda --model resnet50 --images 4096 --batch-size 256
"""

from __future__ import annotations

import argparse
import time


def extraction(model_name: str, device: str, images: int, batch: int, workers: int | None) -> dict:
    import numpy as np
    import torch

    from bench import models
    from bench.data import classsets, transforms
    from bench.transfer import features

    spec = models.resolve(model_name)
    model, _ = models.build(spec, "pretrained" if model_name.startswith("tf_efficientnet_lite") else "random")
    model = model.to(device).eval()
    ts = transforms.resolve(spec, model)
    ex = features.Extractor(model, spec.source, spec.id)
    digits = classsets.digits()
    idx = [i % len(digits) for i in range(images)]
    features.extract(ex, digits, idx[: 2 * batch], ts, device, batch, workers=workers)  # warm-up (workers, kernels)
    t = time.perf_counter()
    got = features.extract(ex, digits, idx, ts, device, batch, workers=workers)
    extract_s = time.perf_counter() - t
    x = torch.randn(batch, *ts.input_size, device=device)
    with torch.inference_mode():
        ex(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(0, images, batch):
            ex(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        forward_s = time.perf_counter() - t
    n_batches = (images + batch - 1) // batch
    extract_rate, forward_rate = images / extract_s, n_batches * batch / forward_s
    return {
        "model": spec.id,
        "features": got.features.shape,
        "extract_img_s": extract_rate,
        "forward_img_s": forward_rate,
        "ratio": extract_rate / forward_rate,
        "feats": got.features.astype(np.float32),
        "labels": got.labels,
    }


def logreg_sweep(x, y) -> dict:
    import numpy as np

    from bench.transfer import logreg

    order = np.arange(len(y))
    train, val = order[order % 5 != 0], order[order % 5 == 0]
    t = time.perf_counter()
    found = logreg.search(x[train], y[train], x[val], y[val])
    search_s = time.perf_counter() - t
    t = time.perf_counter()
    scores = []
    for i, lam in enumerate(logreg.grid()):  # scikit-learn from scratch, once per grid value
        f = logreg.fit(x[train], y[train], float(lam))
        s = logreg.decision(f, x[val])
        acc = float((f.classes[np.argmax(s, axis=1)] == y[val]).mean())
        scores.append((acc, i))
    sweep_s = time.perf_counter() - t
    return {
        "search_s": search_s,
        "search_fits": len(found.curve),
        "sweep_s": sweep_s,
        "speedup": sweep_s / search_s,
        "search_lambda": found.lam,
        "sweep_best_acc_lambda": float(logreg.grid()[max(scores)[1]]),
    }


def knn_memory(n_train: int, dim: int, n_test: int, chunks: list[int]) -> list[dict]:
    import tracemalloc

    import numpy as np

    from bench.transfer import knn

    rng = np.random.default_rng(0)
    bank = rng.standard_normal((n_train, dim), dtype=np.float32)
    labels = rng.integers(0, 100, n_train)
    queries = rng.standard_normal((n_test, dim), dtype=np.float32)
    out = []
    for chunk in chunks:
        tracemalloc.start()
        t = time.perf_counter()
        knn.knn(bank, labels, queries, 100, knn.KnnSettings(chunk=chunk))
        wall = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.append({"chunk": chunk, "peak_mb": peak / 2**20, "bank_mb": bank.nbytes / 2**20, "s": wall})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--knn-train", type=int, default=50_000)
    p.add_argument("--knn-dim", type=int, default=2048)
    p.add_argument("--knn-test", type=int, default=1024)
    p.add_argument("--chunks", default="64,256,1024")
    a = p.parse_args()

    e = extraction(a.model, a.device, a.images, a.batch_size, a.workers)
    print(f"1. feature extraction, {e['model']} on digits, {a.images} images, batch {a.batch_size}, {a.device}:")
    print(
        f"   extraction {e['extract_img_s']:.1f} img/s vs forward-only {e['forward_img_s']:.1f} img/s: ratio {e['ratio']:.2f}x (goal >= 0.9x)"
    )

    s = logreg_sweep(e["feats"], e["labels"])
    print(f"2. logistic-regression lambda search on those {len(e['labels'])} x {e['features'][1]} cached features:")
    print(
        f"   coarse-then-bisect + warm starts {s['search_s']:.1f} s ({s['search_fits']} fits) vs 45 fits from scratch "
        f"{s['sweep_s']:.1f} s: {s['speedup']:.1f}x faster (goal >= 3x); lambda {s['search_lambda']:.3g} vs best-accuracy "
        f"sweep value {s['sweep_best_acc_lambda']:.3g}"
    )

    rows = knn_memory(a.knn_train, a.knn_dim, a.knn_test, [int(c) for c in a.chunks.split(",")])
    print(f"3. k-NN over a {a.knn_train} x {a.knn_dim} float32 bank ({rows[0]['bank_mb']:.0f} MiB), {a.knn_test} queries:")
    for r in rows:
        working = r["peak_mb"] - r["bank_mb"]  # beyond the normalised copy of the bank
        print(
            f"   chunk {r['chunk']:>5}: peak {r['peak_mb']:.0f} MiB = normalised bank {r['bank_mb']:.0f} + working "
            f"{working:.0f} MiB ({working / r['chunk']:.2f} MiB per chunk row), {r['s']:.1f} s"
        )


if __name__ == "__main__":
    main()
