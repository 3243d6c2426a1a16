"""Hub reachability: probe once, and go offline at once when the hub cannot be reached.

huggingface_hub retries an unreachable host for tens of seconds per file; a harness that knows
the host does not resolve should read its caches straight away and say what is missing.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from functools import cache

HF_HOST = "huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


@cache
def reachable(host: str = HF_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether `host` resolves and accepts a TCP connection within `timeout` seconds."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])


def offline() -> bool:
    """True when the user or `ensure_offline_if_unreachable` put the HF libraries offline."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def ensure_offline_if_unreachable() -> bool:
    """Put huggingface_hub / datasets in offline (cache-only) mode when the hub is unreachable.

    Returns True when offline. An explicit HF_HUB_OFFLINE wins. The switch is the libraries'
    supported one, the HF_HUB_OFFLINE / HF_DATASETS_OFFLINE variables, which they read when
    imported: `bench` imports them lazily, after this probe. A program that imported them
    before calling us keeps them online (they then retry before failing), and is told so.
    """
    if "HF_HUB_OFFLINE" in os.environ:
        return offline()
    if reachable():
        return False
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    late = [m for m in ("huggingface_hub", "datasets") if m in sys.modules]
    if late:
        print(
            f"bench: {HF_HOST} is unreachable, but {' and '.join(late)} were imported before bench could switch them "
            "to offline mode: set HF_HUB_OFFLINE=1 before starting to skip their retries",
            file=sys.stderr,
        )
    return True


def torch_checkpoint_dir() -> str:
    """Where torchvision's `load_state_dict_from_url` caches weights ($TORCH_HOME/hub/checkpoints)."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints")


def hf_cache_dir() -> str:
    """Where huggingface_hub caches model and dataset files ($HF_HOME/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
