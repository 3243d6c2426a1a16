"""Test isolation: every cache lives in a temp dir and the hubs are offline, as on CI."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Before anything imports huggingface_hub / torch.hub: no test may read or fill the user's caches.
_CACHE = Path(tempfile.mkdtemp(prefix="bench-test-cache-"))
os.environ["HF_HOME"] = str(_CACHE / "hf")
os.environ["HF_HUB_CACHE"] = str(_CACHE / "hf" / "hub")
os.environ["HF_DATASETS_CACHE"] = str(_CACHE / "hf" / "datasets")
os.environ["TORCH_HOME"] = str(_CACHE / "torch")
os.environ["XDG_CACHE_HOME"] = str(_CACHE / "xdg")  # file checksums (bench.store.checksums)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")

sys.path.insert(0, str(Path(__file__).parent))

import fixtures as F  # noqa: E402


@pytest.fixture(autouse=True)
def no_weight_downloads(monkeypatch):
    """torchvision's loader reads its cache, then downloads: the download is the one network boundary,
    so cut it here and the tests behave the same on a machine that does have network."""
    import urllib.error

    import torch.hub

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(f"offline test run: refused to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)


@pytest.fixture(scope="session")
def cache_root() -> Path:
    return _CACHE


@pytest.fixture(scope="session")
def tiny_items():
    return F.tiny_photo_bytes()


@pytest.fixture(scope="session")
def tiny_hf(tmp_path_factory, tiny_items) -> Path:
    return F.write_hf_parquet(tmp_path_factory.mktemp("tiny-hf"), tiny_items)


@pytest.fixture(scope="session")
def tiny_stanford(tmp_path_factory, tiny_items) -> Path:
    return F.write_stanford(tmp_path_factory.mktemp("tiny-stanford"), tiny_items)


@pytest.fixture(scope="session")
def lite0():
    """The one real pretrained model that installs from PyPI (tf_efficientnet_lite0)."""
    from bench import models as M

    spec = M.resolve("tf_efficientnet_lite0")
    model, info = M.build(spec, "pretrained")
    return spec, model, info
