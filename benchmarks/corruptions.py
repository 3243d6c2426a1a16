"""Does corrupting images in the loader workers keep the CPU path fed? Forward-only vs end to end with a corruption.

    python benchmarks/corruptions.py                                   # lite0, 512 images, jpeg_compression:3
    python benchmarks/corruptions.py --corruption gaussian_noise:3 --images 1024 --repeats 5

Uses pipeline.py's dataset (64x64 JPEGs cut from the bundled photos, Stanford layout) and prints img/s of:
forward only (synthetic input on the device), the harness end to end on the clean CPU path, and the
harness end to end with the corruption applied in the workers (bench.data.loaders.build(corrupt=...)),
each with its ratio to forward only. The goal: the corrupted path stays at >= 0.8x forward only.
Measurements are interleaved (A B C, A B C, ...) because this machine's speed drifts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipeline import forward_only, make_dataset, sync


def end_to_end(model, images, ts, device, channels_last, batch, workers, corrupt) -> float:
    """img/s of the harness's evaluation over `images`, corrupted in the workers when `corrupt` is given."""
    from bench.data import labels as L
    from bench.data import loaders
    from bench.measure.evaluate import evaluate

    pipe = loaders.build(images, list(range(len(images))), ts, device, batch, workers, "cpu", corrupt=corrupt)
    t = time.perf_counter()
    evaluate(
        model,
        pipe.batches,
        L.project(images.label_space, L.imagenet_1k()),
        device,
        "fp32",
        channels_last,
        progress=False,
        finish=pipe.finish,
    )
    sync(device)
    return len(images) / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=None, help="default 256 on CUDA, 32 on CPU")
    p.add_argument("--workers", type=int, default=None, help="loader workers (default: the harness's own choice)")
    p.add_argument("--corruption", default="jpeg_compression:3", help="NAME:SEVERITY")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import torch

    from bench import models as M
    from bench.data import datasets as D
    from bench.data import loaders
    from bench.data import transforms as T
    from bench.measure import corruptions as C

    ((name, severity),) = C.parse(args.corruption)
    batch = args.batch_size or (256 if args.device.startswith("cuda") else 32)
    spec = M.resolve(args.model)
    model, _ = M.build(spec, "random")  # speed does not depend on the weights' values
    channels_last = M.prefers_channels_last(model)
    model = model.to(args.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    ts = T.resolve(spec, model)
    corrupt = C.Corruptor(name, severity)
    with tempfile.TemporaryDirectory() as tmp:
        images = D.load("tiny-imagenet", "valid", make_dataset(Path(tmp), args.images))
        runs = {
            "forward only (synthetic, on device)": lambda: forward_only(
                model, ts, args.device, "fp32", channels_last, batch, args.images
            ),
            "end to end, clean CPU path": lambda: end_to_end(
                model, images, ts, args.device, channels_last, batch, args.workers, None
            ),
            f"end to end, {name}:{severity} in workers": lambda: end_to_end(
                model, images, ts, args.device, channels_last, batch, args.workers, corrupt
            ),
        }
        for fn in runs.values():  # warm caches, kernels and the corruption library once
            fn()
        samples: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                samples[k].append(fn())
    figures = {k: statistics.median(v) for k, v in samples.items()}
    workers = loaders.default_workers(args.workers)
    print(
        f"model {spec.id}, {args.images} Tiny-format 64x64 JPEGs -> {ts.input_size[-1]}px crop, batch {batch}, "
        f"{workers} loader worker(s), {args.device} (torch {torch.__version__}, {torch.get_num_threads()} threads), "
        f"{C.PACKAGE} {C.library_version()}, median of {args.repeats}"
    )
    fwd = figures["forward only (synthetic, on device)"]
    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"  {k:<{width}}  {v:8.1f} img/s   {v / fwd:5.2f}x forward")
    ratio = figures[f"end to end, {name}:{severity} in workers"] / fwd
    print(f"corrupted CPU path / forward only = {ratio:.2f} ({'meets' if ratio >= 0.8 else 'BELOW'} the 0.8x goal)")


if __name__ == "__main__":
    main()
