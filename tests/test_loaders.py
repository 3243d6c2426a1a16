"""Data paths: the batched decode path (exercised with device="cpu" here) agrees with the PIL path."""

from __future__ import annotations

import copy

import fixtures as F
import pytest
import torch

from bench.data import datasets as D
from bench.data import loaders
from bench.data import transforms as T


def _folder_with(tmp_path, files: dict[str, bytes], wnid="n07920052"):
    d = tmp_path / wnid
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return D.load("imagenet-1k", None, tmp_path)


def test_uint8_loader_plus_batched_normalise_equals_float_transform(lite0):
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    img = D.load("samples").raw(1)
    from bench.data.images import open_rgb

    pil = open_rgb(img)
    reference = T.build(ts)(pil)
    batched = T.BatchNormalizer(ts)(T.build(ts, normalize=False)(pil).unsqueeze(0))[0]
    assert T.build(ts, normalize=False)(pil).dtype == torch.uint8
    torch.testing.assert_close(batched, reference, atol=1e-5, rtol=1e-5)


def test_decoder_falls_back_per_image_and_reports_failures(tmp_path, lite0):
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    files = F.awkward_images()
    files["zero.jpg"] = b""
    images = _folder_with(tmp_path, files)
    view = loaders.RawView(images, range(len(images)))
    data, labels, idx, errs = loaders.collate_raw([view[j] for j in range(len(view))])
    x, errs = loaders.GpuDecoder(ts, "cpu").decode(data, errs)
    by_name = dict(zip(images.ids(), errs))
    assert x.shape == (len(images), 3, 224, 224) and x.dtype == torch.float32
    assert by_name["truncated.jpg"] and by_name["zero.jpg"]  # refused like the PIL path refuses them
    assert not any(by_name[k] for k in ("gray.jpg", "cmyk.jpg", "rgba.png", "palette.png"))  # PNGs went to the CPU fallback


def test_auto_is_the_faithful_cpu_path_even_on_cuda():
    """GPU decode is opt-in until benchmarks/gpu_agreement.py shows >= 99.9% agreement on a GPU."""
    images = D.load("samples")
    assert loaders.choose("auto", "cpu", images) == "cpu"
    assert loaders.choose("auto", "cuda", images) == "cpu"  # JPEGs on CUDA used to pick the GPU path
    assert loaders.choose("gpu", "cuda", images) == "gpu"
    assert loaders.choose("cpu", "cuda", images) == "cpu"


def _inputs(images, ts, data_path):
    pipe = loaders.build(images, list(range(len(images))), ts, "cpu", batch_size=4, workers=0, data_path=data_path)
    return torch.cat([pipe.finish(x) for x, _, _, _ in pipe.batches])


def _decoded(images, ts, device: str, float_resize: bool | None = None):
    """The GPU decode path's normalised batch of every image, on `device`, with the given resize kernel."""
    view = loaders.RawView(images, range(len(images)))
    data, _, _, errs = loaders.collate_raw([view[j] for j in range(len(view))])
    x, errs = loaders.GpuDecoder(ts, device, float_resize=float_resize).decode(data, errs)
    assert not any(errs)
    return x


# Documented tolerances of the GPU decode path against the PIL path (uint8 levels of the model's input; measured on
# shared/data/samples + the tiny photos with lite0's bicubic resize, docs/performance.md):
#   native uint8 kernel (torchvision on CPU): <= 2 levels anywhere (0.15 % of values differ at all);
#   float32 + round (what torchvision runs on CUDA): <= 16 levels anywhere, > 2 levels on <= 0.1 % of values, mean
#   |difference| <= 0.3 levels (measured: 12 levels max, 0.02 % over 2, 18 % of values off by one).
TOLERANCE = {"tensor-uint8": (2, 0.0, 0.01), "tensor-float32-round": (16, 0.001, 0.3)}


def _check_agreement(model, a, b, ts, kernel: str) -> tuple[int, int]:
    """Inputs within the kernel's documented tolerance; top-1 equal wherever the PIL path's top-2 margin is not a
    coin flip (> 0.01: chelsea.jpg's tiger cat 0.3705 vs Egyptian cat 0.3704 may flip). Returns (agree, total)."""
    max_levels, over_two_share, mean_levels = TOLERANCE[kernel]
    levels = ((a - b).abs() * 255 * torch.tensor(ts.std, device=a.device).view(1, -1, 1, 1)).round()
    print(
        f"{kernel}: max {int(levels.max())} levels, {100 * (levels > 0).float().mean():.2f} % of values differ,"
        f" {100 * (levels > 2).float().mean():.3f} % by > 2 levels, mean {float(levels.mean()):.3f} levels"
    )
    assert levels.max() <= max_levels
    assert (levels > 2).float().mean() <= over_two_share
    assert levels.mean() <= mean_levels
    with torch.inference_mode():
        pa, pb = model(a).softmax(-1), model(b).softmax(-1)
    top2 = pa.topk(2).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.01
    same = pa.argmax(-1) == pb.argmax(-1)
    assert same[clear].all()
    return int(same.sum()), len(same)


@pytest.mark.parametrize("float_resize", [False, True], ids=["uint8-kernel", "float32-kernel-as-on-cuda"])
def test_decode_path_agrees_with_pil_path_on_real_photos(lite0, tmp_path, float_resize):
    """The batched decode path feeds the model what the PIL path feeds it, within its kernel's documented tolerance:
    the CPU's native uint8 resize, and the float32 + round resize that CUDA runs (emulated here, bit for bit)."""
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    samples = D.load("samples")
    tiny = D.load("tiny-imagenet", "valid", F.write_stanford(tmp_path, F.tiny_photo_bytes(size=64)))
    kernel = "tensor-float32-round" if float_resize else "tensor-uint8"
    agree = total = 0
    for images in (samples, tiny):
        a, b = _inputs(images, ts, "cpu"), _decoded(images, ts, "cpu", float_resize)
        got = _check_agreement(model, a, b, ts, kernel)
        agree, total = agree + got[0], total + got[1]
    print(f"decode-path top-1 agreement ({kernel}): {agree}/{total}")
    assert agree >= total - 1


def test_the_float_kernel_is_what_torchvision_runs_without_its_uint8_kernel(lite0):
    """Our CPU emulation equals torchvision's own float fallback (the code path CUDA takes) bit for bit."""
    from torchvision.transforms.v2 import functional as TF

    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    from bench.data.images import open_rgb

    img = TF.pil_to_tensor(open_rgb(D.load("samples").raw(0)))
    ours = T.build_for_tensors(ts, float_resize=True)(img)
    native = T.build_for_tensors(ts)(img)
    step = T.build_for_tensors(ts).transforms[0]
    size = step.step.get_params(img, step.step.size, step.step.longest) if hasattr(step, "step") else step.size
    reference = TF.resize(img.float(), size, interpolation=TF.InterpolationMode.BICUBIC, antialias=True)
    reference = reference.clamp(0, 255).round().to(torch.uint8)
    crop = T.build_for_tensors(ts).transforms[1]
    assert torch.equal(ours, crop(reference)) and not torch.equal(ours, native)


def test_pipeline_and_decoder_say_which_resize_kernel_ran():
    images = D.load("samples")
    from bench import models as M

    ts = T.resolve(M.resolve("tf_efficientnet_lite0"), torch.nn.Identity(), "fixed", {})
    cpu = loaders.build(images, [0, 1], ts, "cpu", batch_size=2, workers=0, data_path="cpu")
    gpu = loaders.build(images, [0, 1], ts, "cpu", batch_size=2, workers=0, data_path="gpu")
    assert (cpu.resize_kernel, gpu.resize_kernel) == ("pil", "tensor-uint8")
    assert loaders.GpuDecoder(ts, "cuda").resize_kernel == "tensor-float32-round" == loaders.resize_kernel("gpu", "cuda:1")
    assert loaders.resize_kernel("cpu", "cuda") == "pil"


def _raising(err: Exception, above: int = 0):
    import torchvision.io

    real = torchvision.io.decode_jpeg

    def decode_jpeg(data, *args, **kwargs):
        if not isinstance(data, list) or len(data) > above:
            raise err
        return real(data, *args, **kwargs)

    return decode_jpeg


def test_decoder_out_of_memory_reaches_the_backoff(monkeypatch, lite0):
    """An OOM used to become per-image failures (decoded by PIL instead): n shrank and the back-off never ran."""
    import torchvision.io

    from bench.measure.efficiency import run_with_oom_backoff

    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    images = D.load("samples")
    monkeypatch.setattr(torchvision.io, "decode_jpeg", _raising(torch.OutOfMemoryError("CUDA out of memory (simulated)"), 2))
    with pytest.raises(torch.OutOfMemoryError):
        _decoded(images, ts, "cpu")

    def attempt(batch: int):
        pipe = loaders.build(images, list(range(len(images))), ts, "cpu", batch_size=batch, workers=0, data_path="gpu")
        return torch.cat([x for x, _, _, errs in pipe.batches if not any(errs)])

    x, batch = run_with_oom_backoff(attempt, 4)
    assert batch == 2 and len(x) == len(images)


@pytest.mark.parametrize(
    "message",
    ["Failed to initialize nvjpeg with default backend: 5", "decode_jpegs_cuda: torchvision not compiled with nvJPEG support"],
)
def test_a_missing_nvjpeg_is_an_error_that_names_the_fix(monkeypatch, lite0, message):
    """It used to decode everything with PIL, silently, while the record said "gpu"."""
    import torchvision.io

    spec, model, _ = lite0
    monkeypatch.setattr(torchvision.io, "decode_jpeg", _raising(RuntimeError(message)))
    with pytest.raises(loaders.GpuDecodeUnavailable, match="--data-path cpu"):
        _decoded(D.load("samples"), T.resolve(spec, model), "cpu")


def test_one_bad_image_still_falls_back_alone(monkeypatch, lite0):
    import torchvision.io

    spec, model, _ = lite0
    monkeypatch.setattr(
        torchvision.io, "decode_jpeg", _raising(RuntimeError("Error while decoding JPEG: bad Huffman"))
    )  # every GPU decode fails
    assert len(_decoded(D.load("samples"), T.resolve(spec, model), "cpu")) == len(D.load("samples"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decode_agrees_with_cpu_path(lite0, tmp_path):
    """nvJPEG + the float32 resize kernel against the PIL path, within the documented tolerance; 5/5 top-1 on the
    samples cannot be asked for (chelsea.jpg is a near-tie the CPU tensor path already flips)."""
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    model = copy.deepcopy(model).cuda()  # the session's lite0 stays on the CPU for the other tests
    tiny = D.load("tiny-imagenet", "valid", F.write_stanford(tmp_path, F.tiny_photo_bytes(size=64)))
    agree = total = 0
    for images in (D.load("samples"), tiny):
        a, b = _inputs(images, ts, "cpu").cuda(), _decoded(images, ts, "cuda")
        got = _check_agreement(model, a, b, ts, "tensor-float32-round")
        agree, total = agree + got[0], total + got[1]
    assert agree >= total - 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_emulation_of_the_float_resize_is_what_cuda_runs(lite0):
    """The CPU tests certify the float32 + round kernel: it must be the one torchvision runs on CUDA (to within one
    level where float32 interpolation rounds a .5 differently on the two devices)."""
    from torchvision.transforms.functional import pil_to_tensor

    from bench.data.images import open_rgb

    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    for i in range(len(D.load("samples"))):
        img = pil_to_tensor(open_rgb(D.load("samples").raw(i)))
        emulated = T.build_for_tensors(ts, float_resize=True)(img).int()
        on_cuda = T.build_for_tensors(ts)(img.cuda()).cpu().int()
        assert (emulated - on_cuda).abs().max() <= 1 and (emulated != on_cuda).float().mean() < 0.001
