"""Data paths that keep the accelerator busy.

`cpu` (the default, and what `auto` means): PIL decode + the library's own resize/crop in loader
workers, exactly as timm's and torchvision's loaders do, uint8 tensors through pinned memory, one
batched normalise on the device. `gpu` (opt-in speed path): workers only read JPEG bytes; decoding
(`torchvision.io.decode_jpeg(..., device="cuda")`) and the same resize/crop steps run on the GPU
as tensors; a non-JPEG or undecodable image falls back to the CPU decoder alone. nvjpeg and tensor
resizing differ from libjpeg and PIL in the last bits, so its agreement with the faithful path is
measured (benchmarks/gpu_agreement.py) and the path used is recorded in every result, with the resize
kernel that ran (`resize_kernel`): on CUDA torchvision resizes uint8 images in float32 and rounds,
on CPU with its native uint8 kernel. Out of memory while decoding reaches the batch-size back-off, and a
torchvision without nvJPEG is an error that names the fix, never a silent PIL decode.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..errors import BenchError, is_out_of_memory
from ..store.schema import resize_kernel_of
from . import transforms
from .datasets import Images, SampleView, TorchView
from .images import open_rgb

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


def is_jpeg(data: bytes) -> bool:
    return data[:2] == JPEG_START


def is_complete_jpeg(data) -> bool:
    """A JPEG that starts and ends with its markers. libjpeg and nvjpeg quietly grey-fill a truncated
    file where PIL refuses it; sending those to the CPU decoder keeps both paths' verdicts the same."""
    head, tail = bytes(data[:2].tolist()), bytes(data[-2:].tolist())
    return head == JPEG_START and tail == JPEG_END


def choose(data_path: str, device: str = "cpu", images: Images | None = None) -> str:
    """The data path a run uses: `auto` is the faithful CPU path; the GPU decode path only when asked for.

    GPU decode becomes the default only once it agrees with the CPU path on >= 99.9% of images
    (benchmarks/gpu_agreement.py); until that is measured on a GPU, `auto` stays `cpu`.
    """
    return "cpu" if data_path == "auto" else data_path


def resize_kernel(data_path: str, device: str) -> str:
    """pil | tensor-uint8 | tensor-float32-round: what resizes the images of `data_path` on `device`."""
    return resize_kernel_of(data_path, device.split(":")[0])


# What torchvision says when it cannot decode JPEGs on the GPU at all (no nvJPEG in the build or the driver), as
# opposed to one image nvJPEG cannot read.
_NO_NVJPEG = ("Failed to initialize nvjpeg", "Failed to create nvjpeg", "not compiled with", "Could not run 'image::decode_jpeg")


class GpuDecodeUnavailable(BenchError):
    """GPU JPEG decode was asked for, and this torchvision/driver cannot do it."""


def _raise_unless_per_image(err: RuntimeError) -> None:
    """Out of memory goes to the back-off, a missing nvJPEG is an error; anything else is one bad image."""
    if is_out_of_memory(err):
        raise err
    if any(s.lower() in str(err).lower() for s in _NO_NVJPEG):
        raise GpuDecodeUnavailable(
            f"GPU JPEG decode is unavailable here ({str(err).splitlines()[0][:200]}): use --data-path cpu"
        ) from err


def _read(src) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    with open(src, "rb") as f:
        return f.read()


def default_workers(requested: int | None) -> int:
    """Leave one core for the main process (it runs the model on CPU, or feeds the GPU)."""
    if requested is not None:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(16, cores - 1))


@dataclass
class Pipeline:
    """Batches of (x, labels, indices, errors) plus the on-device step that finishes x."""

    batches: Iterable
    finish: Callable  # x on device -> normalised float batch
    data_path: str
    workers: int
    resize_kernel: str = "pil"  # resize_kernel(data_path, device)


def build(
    images: Images,
    indices: Sequence[int],
    ts: transforms.TransformSpec,
    device: str,
    batch_size: int,
    workers: int | None = None,
    data_path: str = "auto",
    corrupt: Callable | None = None,
) -> Pipeline:
    """`corrupt(uint8 CxHxW crop, sample index)` runs in the CPU workers before normalisation (ImageNet-C
    corruptions); it takes the CPU path whatever `data_path` says, since the corruptions are numpy code."""
    path = "cpu" if corrupt is not None else choose(data_path, device, images)
    n_workers = min(default_workers(workers), max(0, (len(indices) + batch_size - 1) // batch_size - 1))
    common: dict[str, Any] = dict(
        batch_size=batch_size,
        shuffle=False,
        num_workers=n_workers,
        # pinned pages speed the host-to-device copy of decoded uint8 crops; the GPU path's raw JPEG bytes are
        # read by nvJPEG's host-side parser first, so pinning them is one more copy for nothing
        pin_memory=device.startswith("cuda") and path != "gpu",
        persistent_workers=n_workers > 0,
        prefetch_factor=4 if n_workers else None,
    )
    if path == "gpu":
        loader = data_loader(RawView(images, indices), collate_fn=collate_raw, **common)
        decoder = GpuDecoder(ts, device)
        return Pipeline(decoder.batches(loader), lambda x: x, "gpu", n_workers, decoder.resize_kernel)
    view: TorchView
    if corrupt is not None:
        view = CorruptedView(images, indices, transforms.build(ts, normalize=False), ts.input_size, corrupt)
    else:
        view = TorchView(images, indices, transforms.build(ts, normalize=False), ts.input_size)
    return Pipeline(data_loader(view, **common), transforms.BatchNormalizer(ts), "cpu", n_workers)


def data_loader(view: SampleView, **options: Any) -> DataLoader[Any]:
    """A torch DataLoader over a view. torch types its dataset as its own Dataset class; a view is a map-style
    dataset by protocol (__getitem__ and __len__, all DataLoader uses), which keeps torch out of the import."""
    from torch.utils.data import DataLoader, Dataset

    return DataLoader(cast("Dataset[Any]", view), **options)


class CorruptedView(TorchView):
    """The CPU path's uint8 crop, then `corrupt(crop, dataset index)` in the same worker: the index seeds it."""

    def __init__(self, images: Images, indices: Sequence[int], transform: Callable, input_size, corrupt: Callable):
        super().__init__(images, indices, transform, input_size)
        self.corrupt = corrupt
        self._index = -1

    def __getitem__(self, j: int):
        self._index = self.indices[j]  # one sample at a time per worker process
        return super().__getitem__(j)

    def load(self, raw):
        return self.corrupt(super().load(raw), self._index)


class RawView(SampleView):
    """Undecoded bytes per sample (workers only do file I/O), decoded later in batches."""

    def load(self, raw):
        import torch

        data = _read(raw)
        if not data:
            raise ValueError("empty image (0 bytes)")
        return torch.frombuffer(bytearray(data), dtype=torch.uint8)

    def empty(self):
        import torch

        return torch.empty(0, dtype=torch.uint8)


def collate_raw(batch):
    import torch

    data, labels, idx, errs = zip(*batch)
    return list(data), torch.tensor(labels), torch.tensor(idx), list(errs)


class GpuDecoder:
    """Batched JPEG decode on `device`, then the spec's own resize/crop steps (crop mode, per-axis sizes) on
    each decoded tensor, then the batched normalise: the CPU path's transform applied to tensors.

    `float_resize`: resize in float32 and round, which is what torchvision does with uint8 on CUDA (None: the
    device's own choice); True on CPU runs, bit for bit, the kernel a GPU runs."""

    def __init__(self, ts: transforms.TransformSpec, device: str, float_resize: bool | None = None):
        self.ts = ts
        self.device = device
        self.float_resize = device.startswith("cuda") if float_resize is None else float_resize
        self.resize_kernel = "tensor-float32-round" if self.float_resize else "tensor-uint8"
        self.spatial = transforms.build_for_tensors(ts, float_resize=self.float_resize)  # the CPU path's steps
        self.normalize = transforms.BatchNormalizer(ts)

    def batches(self, loader: Iterable) -> Iterator[tuple[Any, Any, Any, list[str]]]:
        for data, labels, idx, errs in loader:
            x, errs = self.decode(data, errs)
            yield x, labels, idx, errs

    def decode(self, data: list, errs: list[str]):
        """Decode one batch; returns the normalised batch (zeros where a sample failed) and errors."""
        import torch
        from torchvision.io import ImageReadMode, decode_jpeg

        errs = list(errs)
        images: list = [None] * len(data)
        jpeg = [j for j, d in enumerate(data) if not errs[j] and len(d) > 4 and is_complete_jpeg(d)]
        if jpeg:
            try:
                decoded = decode_jpeg([data[j] for j in jpeg], mode=ImageReadMode.RGB, device=self.device)
            except RuntimeError as err:
                _raise_unless_per_image(err)
                decoded = [self._decode_one(data[j]) for j in jpeg]  # find the bad ones
            for j, img in zip(jpeg, decoded):
                images[j] = img
        for j, img in enumerate(images):
            if img is None and not errs[j]:
                try:
                    images[j] = self._cpu_fallback(data[j])
                except Exception as e:
                    if is_out_of_memory(e):  # copying to the device: the back-off's, not this image's
                        raise
                    errs[j] = f"{type(e).__name__}: {e}"[:300]
        c, h, w = self.ts.input_size
        out = torch.zeros((len(data), c, h, w), dtype=torch.uint8, device=self.device)
        for j, img in enumerate(images):
            if img is not None and not errs[j]:
                out[j] = self.spatial(img)
        return self.normalize(out), errs

    def _decode_one(self, data):
        from torchvision.io import ImageReadMode, decode_jpeg

        try:
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=self.device)
        except RuntimeError as err:
            _raise_unless_per_image(err)
            return None  # CMYK, progressive oddities, corruption: the CPU decoder decides

    def _cpu_fallback(self, data):
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(open_rgb(data.numpy().tobytes())).to(self.device)
