"""Does the GPU decode path feed models what the faithful CPU path feeds them? Per-sample agreement.

    python benchmarks/gpu_agreement.py --device cuda --dataset imagenet-1k --data-dir /data/imagenet/val \
        --models resnet50,timm:convnext_tiny.fb_in1k,timm:convnext_tiny.fb_in22k_ft_in1k_384 --limit 10000
    python benchmarks/gpu_agreement.py --device cpu --weights random      # smoke test: the tensor path on CPU

Both paths see the same images in the same order: `cpu` is PIL decode + the library's transform
(what timm's and torchvision's loaders do), `gpu` is nvjpeg decode + the same resize/crop steps on
tensors. For each model it prints the share of images whose full-protocol top-1 is the same under
both, the two top-1 accuracies, and how far the pixels differ (uint8 levels). `--data-path gpu`
may become the default only where agreement is >= 99.9% (issue "Faithful to the zoo"); run this
on a GPU whenever one is available and put the figures in the README.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

THRESHOLD = 99.9


def agreement(name: str, images, indices, device: str, batch_size: int, workers: int, weights: str) -> dict:
    import torch

    from bench import models as M
    from bench.data import labels as L
    from bench.data import loaders
    from bench.data import transforms as T

    spec = M.resolve(name)
    model, info = M.build(spec, weights)
    model = model.to(device).eval()
    ts = T.resolve(spec, model)
    to_model = L.project(images.label_space, L.for_head(info.num_classes, None)).model_index
    std = torch.tensor(ts.std, device=device).view(1, -1, 1, 1)
    cpu = loaders.build(images, indices, ts, device, batch_size, workers, "cpu")
    gpu = loaders.build(images, indices, ts, device, batch_size, workers, "gpu")
    same = total = hits_cpu = hits_gpu = 0
    max_levels, sum_levels, differing, pixels = 0.0, 0.0, 0, 0
    with torch.inference_mode():
        for (xa, ya, ia, ea), (xb, _, ib, eb) in zip(cpu.batches, gpu.batches):
            assert torch.equal(ia, ib), "the two paths must see the same images"
            ok = torch.tensor([not (a or b) for a, b in zip(ea, eb)])
            a = cpu.finish(xa.to(device))[ok.to(device)]
            b = gpu.finish(xb.to(device))[ok.to(device)]
            levels = ((a - b).abs() * std * 255).round()
            max_levels = max(max_levels, float(levels.max()) if levels.numel() else 0.0)
            sum_levels += float(levels.sum())
            differing += int((levels > 0).sum())
            pixels += levels.numel()
            pa, pb = model(a).argmax(1).cpu(), model(b).argmax(1).cpu()
            target = torch.tensor([to_model[int(y)] if to_model[int(y)] is not None else -1 for y in ya[ok]])
            same += int((pa == pb).sum())
            hits_cpu += int((pa == target).sum())
            hits_gpu += int((pb == target).sum())
            total += len(pa)
    rate = 100.0 * same / total if total else None
    return {
        "model": spec.id,
        "n": total,
        "agreement_pct": rate,
        "disagree": total - same,
        "top1_cpu": 100.0 * hits_cpu / total if total else None,
        "top1_gpu": 100.0 * hits_gpu / total if total else None,
        "pixel_max_levels": max_levels,
        "pixel_mean_levels": sum_levels / pixels if pixels else None,
        "pixels_differing_pct": 100.0 * differing / pixels if pixels else None,
        "transform": ts.to_dict(),
        "resize_kernel": gpu.resize_kernel,  # tensor-float32-round on CUDA, tensor-uint8 on CPU
        "meets_threshold": rate is not None and rate >= THRESHOLD,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="tf_efficientnet_lite0")
    p.add_argument("--dataset", default="samples")
    p.add_argument("--data-dir")
    p.add_argument("--split")
    p.add_argument("--limit", type=int)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--weights", default="pretrained", help="pretrained | random (smoke test only: agreement needs real weights)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    from bench.data import datasets as D

    split = D.canonical_split(args.dataset, args.split)
    images = D.load(args.dataset, split, args.data_dir)
    indices = D.stratified(images.labels, args.limit)
    rows = [
        agreement(m.strip(), images, indices, args.device, args.batch_size, args.workers, args.weights)
        for m in args.models.split(",")
        if m.strip()
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        from bench.report.tables import terminal_table  # tabulate when installed, the same layout without it

        print(
            f"{args.dataset}/{split}, {len(indices)} images, device {args.device}; GPU decode may be the default at >= {THRESHOLD}%"
        )
        print(
            terminal_table(
                ["model", "n", "agree %", "differ", "top-1 cpu", "top-1 gpu", "max Δ", "mean Δ", "px differ %", ">= 99.9%"],
                [
                    [
                        r["model"],
                        str(r["n"]),
                        f"{r['agreement_pct']:.3f}",
                        str(r["disagree"]),
                        f"{r['top1_cpu']:.2f}",
                        f"{r['top1_gpu']:.2f}",
                        f"{r['pixel_max_levels']:.0f}",
                        f"{r['pixel_mean_levels']:.4f}",
                        f"{r['pixels_differing_pct']:.2f}",
                        "yes" if r["meets_threshold"] else "no",
                    ]
                    for r in rows
                ],
                ("left",) + ("right",) * 9,
            )
        )
    return 0 if all(r["meets_threshold"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
