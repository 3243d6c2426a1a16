"""Test isolation: every cache lives in a temp dir and the hubs are offline, as on CI.

HF_ENDPOINT points at a local hub (tests/hub_server.py) started here, before anything imports
huggingface_hub: no test can reach huggingface.co, and the hub tests (fixture `hf_online`) switch the
real client online against it, with a fresh HF hub cache each.
"""

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
os.environ.pop("TRANSFORMERS_OFFLINE", None)
for _var in (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    *(v for k in ("http", "https", "all") for v in (f"{k}_proxy", f"{k.upper()}_PROXY")),
):
    os.environ.pop(_var, None)
os.environ.setdefault("OMP_NUM_THREADS", "2")

sys.path.insert(0, str(Path(__file__).parent))

import fixtures as F  # noqa: E402
from hub_server import HubServer  # noqa: E402

HUB = HubServer().start()  # one local hub per test session; its port is free (bound to port 0)
os.environ["HF_ENDPOINT"] = HUB.url


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
def hub_server() -> HubServer:
    return HUB


@pytest.fixture
def hf_online(hub_server, tmp_path, monkeypatch) -> HubServer:
    """huggingface_hub and datasets online against the local hub, with an empty HF hub cache of this test's own.

    The libraries read HF_HUB_OFFLINE and the cache path when imported: the test sets their configuration values
    (and the environment, for subprocesses); the client's functions are never replaced.
    """
    import datasets.config
    from huggingface_hub import HfFileSystem, constants
    from huggingface_hub.utils import close_session

    cache = tmp_path / "hf-hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    hub_server.begin()
    HfFileSystem.clear_instance_cache()  # hf:// listings are cached per instance
    close_session()  # the shared httpx client reads the proxy variables when it is made
    yield hub_server
    HfFileSystem.clear_instance_cache()
    close_session()


@pytest.fixture(scope="session")
def hf_tiny_repo(tmp_path_factory):
    """zh-plus/tiny-imagenet's layout: data/{train,valid,test}-*.parquet, a card with `configs:` only, the
    features (ClassLabel of the wnids) and split sizes in dataset_infos.json; the parquet carries no features.
    (folder, split -> shard paths)"""
    import hf_repo

    root = tmp_path_factory.mktemp("hf-tiny-repo")
    return root, hf_repo.write_repo(root, "tiny", infos_json=True, plain_parquet=True)


@pytest.fixture(scope="session")
def hf_imagenet_repo(tmp_path_factory):
    """ILSVRC/imagenet-1k's layout (card with dataset_info), the bundled photos as rows: (folder, split -> shards)."""
    import hf_repo

    root = tmp_path_factory.mktemp("hf-imagenet-repo")
    return root, hf_repo.write_repo(root, "imagenet")


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
