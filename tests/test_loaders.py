"""Data paths: the batched decode path (exercised with device="cpu" here) agrees with the PIL path."""

from __future__ import annotations

import copy

import fixtures as F
import pytest
import torch

from bench.data import datasets as D
from bench.data import labels as L
from bench.data import loaders
from bench.data import transforms as T
from bench.measure.evaluate import evaluate


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


def test_decode_path_agrees_with_pil_path_on_real_photos(lite0, tmp_path):
    """The batched decode path feeds the model what the PIL path feeds it, to within JPEG IDCT rounding.

    Top-1 may still differ on a near-tie (chelsea.jpg: tiger cat 0.3705 vs Egyptian cat 0.3704),
    so agreement is required wherever the top-2 margin is not a coin flip, and the rate is printed.
    """
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    samples = D.load("samples")
    tiny = D.load("tiny-imagenet", "valid", F.write_stanford(tmp_path, F.tiny_photo_bytes(size=64)))
    one_level = 1 / 255 / min(ts.std)
    agree = total = 0
    for images in (samples, tiny):
        a, b = _inputs(images, ts, "cpu"), _inputs(images, ts, "gpu")
        assert (a - b).abs().max() <= 2 * one_level + 1e-6  # at most two uint8 levels anywhere
        assert (a - b).abs().mean() < 1e-3
        with torch.inference_mode():
            pa, pb = model(a).softmax(-1), model(b).softmax(-1)
        top2 = pa.topk(2).values
        clear = (top2[:, 0] - top2[:, 1]) > 0.01
        same = pa.argmax(-1) == pb.argmax(-1)
        assert same[clear].all()
        agree += int(same.sum())
        total += len(same)
    print(f"decode-path top-1 agreement: {agree}/{total}")
    assert agree >= total - 1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decode_agrees_with_cpu_path(lite0, tmp_path):
    spec, model, _ = lite0
    ts = T.resolve(spec, model)
    images = D.load("samples")
    indices = list(range(len(images)))
    model = copy.deepcopy(model).cuda()  # the session's lite0 stays on the CPU for the other tests
    outs = []
    for path in ("cpu", "gpu"):
        pipe = loaders.build(images, indices, ts, "cuda", batch_size=4, workers=0, data_path=path)
        ev = evaluate(
            model, pipe.batches, L.project(images.label_space, L.imagenet_1k()), device="cuda", progress=False, finish=pipe.finish
        )
        outs.append(ev.samples["full_top5"][:, 0])
    assert (outs[0] == outs[1]).mean() >= 0.99
