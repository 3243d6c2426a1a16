"""Where does evaluation time go? Forward-only vs the harness end to end vs the classic notebook loop.

    python benchmarks/pipeline.py --device cpu                       # this machine: small model, 512 images
    python benchmarks/pipeline.py --device cuda --model resnet50 --images 10000 --precision bf16 --channels-last

Writes a Tiny-ImageNet-format dataset (Stanford folder layout, 64x64 JPEGs) made from random crops
of the bundled photos, then prints img/s for: forward only (synthetic input on the device), the
harness's CPU data path, its GPU decode path (CUDA only), and the notebook loop (PIL per image,
batch 50, no workers), with the ratios the project's goals are stated in. The harness figures are
steady state: the first batch (loader workers forked, queues filled) is not timed.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def make_dataset(root: Path, n: int, seed: int = 0) -> Path:
    """n 64x64 JPEGs in the Stanford val layout, from random crops of the four Tiny-class photos."""
    import fixtures as F
    from PIL import Image

    from bench.data.datasets import samples_dir

    rng = random.Random(seed)
    photos = [(Image.open(samples_dir() / name).convert("RGB"), wnid) for name, wnid in F.TINY_PHOTOS.items()]
    items = []
    for i in range(n):
        img, wnid = photos[i % len(photos)]
        w, h = img.size
        s = rng.randint(min(w, h) // 2, min(w, h))
        x, y = rng.randint(0, w - s), rng.randint(0, h - s)
        items.append((f"{i}.jpg", wnid, F.jpeg_bytes(img.crop((x, y, x + s, y + s)).resize((64, 64), Image.BICUBIC))))
    items.sort(key=lambda t: t[1])
    return F.write_stanford(root, items)


def autocast(device: str, precision: str):
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype={"bf16": torch.bfloat16, "fp16": torch.float16}[precision])


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def forward_only(model, ts, device, precision, channels_last, batch, n) -> float:
    """img/s of the model alone on an input already on the device (the ceiling)."""
    import torch

    x = torch.randn(batch, *ts.input_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    steps = max(1, n // batch)
    with torch.inference_mode(), autocast(device, precision):
        for _ in range(2):
            model(x)
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync(device)
    return steps * batch / (time.perf_counter() - t)


def harness(model, images, ts, device, precision, channels_last, batch, workers, data_path) -> float:
    """img/s of the harness's own evaluation (data loading, transfer, forward, scoring) in steady state: timed from
    the moment the first batch is done, so forking up to 15 loader workers and filling their queues (a start-up
    cost paid once per run, seconds on a many-core machine) is not spread over a few hundred images."""
    from bench.data import labels as L
    from bench.data import loaders
    from bench.measure.evaluate import evaluate

    pipe = loaders.build(images, list(range(len(images))), ts, device, batch, workers, data_path)
    clock = SteadyClock(device)
    evaluate(
        model,
        clock.wrap(pipe.batches),
        L.project(images.label_space, L.imagenet_1k()),
        device,
        precision,
        channels_last,
        progress=False,
        finish=pipe.finish,
    )
    return clock.rate()


class SteadyClock:
    """Wraps a loader: the clock starts when the consumer asks for the second batch (the first one is loaded,
    transferred and scored: workers forked, queues full, kernels chosen) and stops when the last is done."""

    def __init__(self, device: str):
        self.device, self.started, self.images = device, None, 0

    def wrap(self, batches):
        for k, b in enumerate(batches):
            if k == 1:
                sync(self.device)
                self.started = time.perf_counter()
            if k >= 1:
                self.images += len(b[2])  # (x, labels, indices, errors)
            yield b

    def rate(self) -> float:
        sync(self.device)
        if self.started is None or not self.images:
            raise SystemExit("--images must give at least two batches: the first one is start-up, not steady state")
        return self.images / (time.perf_counter() - self.started)


def notebook_loop(model, images, ts, device, precision) -> float:
    """The loop of the classic demo notebook: PIL per image, batch 50, no workers, float transform, NCHW."""
    import torch
    from PIL import Image

    from bench.data import transforms as T

    tf = T.build(ts)
    paths = list(images.items)
    model = model.to(memory_format=torch.contiguous_format)
    t = time.perf_counter()
    with torch.no_grad(), autocast(device, precision):
        for i in range(0, len(paths), 50):
            x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths[i : i + 50]]).to(device)
            model(x).argmax(1).cpu()
    sync(device)
    return len(paths) / (time.perf_counter() - t)


def _nhwc(model, fn):
    def run():
        import torch

        model.to(memory_format=torch.channels_last)
        return fn()

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tf_efficientnet_lite0")
    p.add_argument("--device", default="cpu")
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=None, help="default 256 on CUDA, 32 on CPU")
    p.add_argument("--workers", type=int, default=None, help="harness loader workers (default: its own choice)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="harness memory format (default: the harness's own choice, NHWC for convnets)",
    )
    p.add_argument("--repeats", type=int, default=3, help="median over this many runs of each measurement")
    args = p.parse_args()

    import torch

    from bench import models as M
    from bench.data import datasets as D
    from bench.data import transforms as T

    batch = args.batch_size or (256 if args.device.startswith("cuda") else 32)
    spec = M.resolve(args.model)
    model, info = M.build(spec, "random")  # speed does not depend on the weights' values
    model = model.to(args.device)
    if args.channels_last is None:
        args.channels_last = M.prefers_channels_last(model)
    ts = T.resolve(spec, model)
    with tempfile.TemporaryDirectory() as tmp:
        images = D.load("tiny-imagenet", "valid", make_dataset(Path(tmp), args.images))
        runs = {
            "forward only (synthetic, on device)": lambda: forward_only(
                model, ts, args.device, args.precision, args.channels_last, batch, args.images
            ),
            "harness end-to-end, CPU data path": lambda: harness(
                model, images, ts, args.device, args.precision, args.channels_last, batch, args.workers, "cpu"
            ),
        }
        if args.device.startswith("cuda"):
            runs["harness end-to-end, GPU decode path"] = lambda: harness(
                model, images, ts, args.device, args.precision, args.channels_last, batch, args.workers, "gpu"
            )
        runs["notebook loop (PIL, batch 50, no workers)"] = lambda: notebook_loop(model, images, ts, args.device, args.precision)
        if args.channels_last:  # forward-only and the harness share the memory format; the notebook has its own
            for name in list(runs)[:-1]:
                runs[name] = _nhwc(model, runs[name])
        next(iter(runs.values()))()  # warm caches and kernels once
        # Interleaved rounds (A B C, A B C, ...): this machine's speed drifts by 10-20% over a
        # minute, and measuring each figure in its own block would turn that drift into a ratio.
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, fn in runs.items():
                samples[name].append(fn())
        figures = {name: statistics.median(v) for name, v in samples.items()}
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU x{torch.get_num_threads()} threads"
    print(
        f"model {spec.id}, {args.images} Tiny-format 64x64 JPEGs -> {ts.input_size[-1]}px, {args.precision}, "
        f"batch {batch}, channels_last={args.channels_last}, {device_name}, torch {torch.__version__}"
    )
    width = max(map(len, figures))
    fwd = figures["forward only (synthetic, on device)"]
    naive = figures["notebook loop (PIL, batch 50, no workers)"]
    for name, v in figures.items():
        print(f"  {name:<{width}}  {v:9.1f} img/s   {v / fwd:5.2f}x forward   {v / naive:5.2f}x notebook")


if __name__ == "__main__":
    main()
