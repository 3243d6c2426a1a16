"""Result identity: two experiments that can differ in a number never share a key.

The key is `Identity` (bench/store/schema.py): its canonical JSON (None fields left out) hashed with
sha256 names the file, after the readable model and weights. The oracle is a second implementation
of that hash here, and hand-written paths.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from bench.store import results as R
from bench.store.schema import Identity

TRANSFORM = {
    "policy": "model",
    "library": "torchvision",
    "input_size": [3, 224, 224],
    "resize": [232],
    "crop_pct": 0.875,
    "interpolation": "bilinear",
}


def key(**kw) -> Identity:
    d = dict(
        dataset="imagenet-1k",
        split="validation",
        model="tv:resnet50.IMAGENET1K_V2",
        weights="pretrained",
        weights_digest="state:ab12",
        samples="cd34",
        transform=TRANSFORM,
        precision="fp32",
    )
    return Identity(**{**d, **kw})


def _hash12(fields: dict) -> str:
    """Second implementation: sha256 of the compact, sorted-key JSON of the non-None fields, first 12 hex digits."""
    kept = {k: v for k, v in fields.items() if v is not None}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


@pytest.mark.parametrize(
    "field,other",
    [
        ("dataset", "imagenet-v2"),
        ("split", "train"),
        ("model", "tv:resnet50.IMAGENET1K_V1"),
        ("weights", "random"),
        ("weights_digest", "state:ff00"),
        ("samples", "cd35"),
        ("transform", {**TRANSFORM, "policy": "fixed"}),
        ("transform", {**TRANSFORM, "interpolation": "bicubic"}),
        ("precision", "bf16"),
        ("label_space", "imagenet-a"),
        ("classes", "tiny@1234"),
        ("data_path", "gpu"),
        ("batch_size", 64),
        ("channels_last", True),
        ("compile", True),
        ("device", "cuda"),
        ("corruptions", "all@1"),
        ("tf32", "on"),
        ("resize_kernel", "tensor-float32-round"),
    ],
)
def test_every_key_field_changes_the_path(tmp_path, field, other):
    assert key().path(tmp_path) != key(**{field: other}).path(tmp_path)


def test_the_machine_is_not_in_the_path_but_decides_whether_an_efficiency_counts(tmp_path):
    """Another CPU model predicts the same: accuracy is found; only efficiency is measured again."""
    from bench.store.schema import Efficiency, Record

    epyc, xeon = key(device="cpu", machine="cpu:AMD EPYC"), key(device="cpu", machine="cpu:Intel(R) Xeon(R) Processor")
    assert epyc.path(tmp_path) == xeon.path(tmp_path) and "machine" not in epyc.canonical()
    record = Record(key=epyc, efficiency=Efficiency(device="cpu", device_name="AMD EPYC"))
    assert epyc.efficiency_counts(record) and not xeon.efficiency_counts(record)
    assert key().efficiency_counts(record)  # a key that names no machine takes any


def test_transform_policy_is_part_of_the_stored_name(tmp_path):
    fields = dict(
        model="tv:resnet50.IMAGENET1K_V2",
        weights="pretrained",
        weights_digest="state:ab12",
        dataset="imagenet-1k",
        split="validation",
        samples="cd34",
        transform=TRANSFORM,
        precision="fp32",
    )
    h = _hash12(fields)
    assert key().path(tmp_path) == tmp_path / "imagenet-1k" / "validation" / f"tv-resnet50.IMAGENET1K_V2__pretrained__{h}.json"
    fixed = {**TRANSFORM, "policy": "fixed"}
    assert (
        key(transform=fixed).path(tmp_path).name
        == f"tv-resnet50.IMAGENET1K_V2__pretrained__{_hash12({**fields, 'transform': fixed})}.json"
    )
    assert key().canonical() == fields  # None fields are left out: a new optional field keeps old keys
    assert key(transform=fixed).group() == ("imagenet-1k", "validation", "tv:resnet50.IMAGENET1K_V2", "pretrained", "fixed")


def test_weights_labels():
    from bench.runner import _weights_label

    assert _weights_label("pretrained") == "pretrained" and _weights_label("random") == "random"
    assert _weights_label("/ckpt/run 3/best.pth") == "file-best"
    assert key(weights=_weights_label("/ckpt/run 3/My best (v2).safetensors")).prefix == (
        "tv-resnet50.IMAGENET1K_V2__file-My-best--v2-"  # only [A-Za-z0-9_.+-] stay
    )


def test_two_checkpoint_files_never_share_a_key(tmp_path):
    a = key(weights="file-best", weights_digest="file:" + "a" * 64)
    b = key(weights="file-best", weights_digest="file:" + "b" * 64)
    assert a.path(tmp_path) != b.path(tmp_path) and a.prefix == b.prefix


def _protocol_hash(protocol):
    """Second implementation: sha256 of the canonical (sorted-key) JSON, first 16 hex digits."""
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]


def test_protocol_hash_is_canonical_json_sha256():
    # every field of the v1 protocol, so that the stored JSON is exactly this dict
    p = {
        "dataset": "imagenet-1k",
        "split": "validation",
        "n": 50000,
        "indices": None,
        "label_protocols": ["full", "restricted"],
        "transform_policy": "model",
        "dataset_space": "imagenet-1k",
        "model_space": "imagenet-1k",
    }
    assert R.protocol_hash(p) == _protocol_hash(p) and len(R.protocol_hash(p)) == 16
    assert R.protocol_hash(dict(reversed(list(p.items())))) == R.protocol_hash(p)
    assert R.protocol_hash({**p, "n": 49999}) != R.protocol_hash(p)


def test_indices_hash_is_order_and_value_sensitive():
    assert R.indices_hash([0, 1, 2]) == hashlib.sha256(b"0,1,2").hexdigest()[:16]
    assert R.indices_hash([0, 1, 2]) != R.indices_hash([0, 2, 1]) != R.indices_hash([0, 1, 3])
    assert R.indices_hash([1, 23]) != R.indices_hash([12, 3])


def test_samples_digest_is_indices_and_their_labels():
    import struct

    labels = [7, 3, 9, 1]
    # by hand: little-endian int64 indices, "|", the label of each chosen index
    raw = struct.pack("<3q", 2, 0, 3) + b"|" + struct.pack("<3q", 9, 7, 1)
    assert R.samples_digest([2, 0, 3], labels) == hashlib.sha256(raw).hexdigest()
    assert R.samples_digest([2, 0, 3], [7, 3, 8, 1]) != R.samples_digest([2, 0, 3], labels)  # same indices, other labels
    assert R.samples_digest([0, 2, 3], labels) != R.samples_digest([2, 0, 3], labels)
    assert R.samples_digest([], labels) == hashlib.sha256(b"|").hexdigest()


def test_samples_digest_covers_the_content_digest():
    labels = [7, 3, 8, 1]
    raw = np.array([2, 0], "<i8").tobytes() + b"|" + np.array([8, 7], "<i8").tobytes()
    assert R.samples_digest([2, 0], labels, "abc") == hashlib.sha256(raw + b"|abc").hexdigest()
    assert R.samples_digest([2, 0], labels, None) == hashlib.sha256(raw).hexdigest()  # a stream: no content digest


def test_samples_digest_is_the_same_for_every_integer_type():
    """HF datasets hand labels as int64 lists, a folder reader as Python ints, a subset as int32 arrays: one
    experiment, one key. The digest fixes little-endian int64 (checked here against struct, not the code)."""
    import struct

    import numpy as np

    raw = struct.pack("<2q", 3, 1) + b"|" + struct.pack("<2q", 40, 20)
    expected = hashlib.sha256(raw).hexdigest()
    labels = [10, 20, 30, 40]
    for idx_type in (np.int32, np.int64, np.uint16):
        for lab_type in (np.int32, np.int64, np.int16):
            idx = np.array([3, 1], dtype=idx_type)
            assert R.samples_digest(idx, np.array([10, 20, 30, 40], dtype=lab_type)) == expected, (idx_type, lab_type)
    assert R.samples_digest((i for i in [3, 1]), labels) == expected  # any iterable of indices
