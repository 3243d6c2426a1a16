"""The Hugging Face hub as the libraries see it: offline mode, endpoint, proxies, and what a failure means.

Reachability is never probed on a hard-coded host: the harness makes the library's own call (to
`HF_ENDPOINT`, through the proxies httpx reads from the environment) and classifies what it raised,
so a mirror or a mandatory proxy works exactly when `huggingface_hub` works. Each failure kind gets its
own fix: gated / bad token / not found / rate-limited / server error / unreachable / proxy / disk full.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

# the commands these messages name exist from huggingface_hub 1.0 on (pyproject's lower bound):
# `hf auth login`, `hf download --include`, `hf cache rm`
LOGIN = "`hf auth login` or HF_TOKEN"
PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def offline() -> bool:
    """huggingface_hub's own decision (HF_HUB_OFFLINE, or TRANSFORMERS_OFFLINE as it also honours), read from its
    configuration, so a value set before import and a value changed since agree with what the library does."""
    from huggingface_hub import constants

    decide = getattr(constants, "is_offline_mode", None)  # huggingface_hub >= 1.1; before, the constant alone
    return bool(decide() if decide is not None else constants.HF_HUB_OFFLINE)


def endpoint() -> str:
    """The hub the libraries talk to (HF_ENDPOINT: huggingface.co or a mirror)."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def proxies() -> str:
    """The proxy settings httpx reads from the environment, for messages ("" when none)."""
    seen = [f"{k}={os.environ[k]}" for k in PROXY_VARS if os.environ.get(k)]
    return ", ".join(dict.fromkeys(seen))


@dataclass(frozen=True)
class Failure:
    """What a hub call's error means, and what the user does about it."""

    kind: str  # gated | token | not-found | revision | rate-limited | server | proxy | unreachable | offline | disk
    reason: str  # short, for "using the cache because ..."
    fix: str

    @property
    def transient(self) -> bool:
        """The hub (or the way to it) failed, not the request: a complete cache may stand in."""
        return self.kind in ("rate-limited", "server", "proxy", "unreachable")

    def message(self, what: str) -> str:
        return f"{what}: {self.reason}: {self.fix}"


def _status(e: BaseException) -> int | None:
    response = getattr(e, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _header(e: BaseException, name: str) -> str | None:
    response = getattr(e, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get(name) if headers is not None else None


def _chain(e: BaseException):
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def classify(e: BaseException, repo_id: str, repo_type: str = "dataset") -> Failure | None:
    """The Failure behind `e` (anywhere in its chain: datasets and timm wrap hub errors), or None when it is not
    a hub error."""
    from huggingface_hub import errors as hf_errors

    where = endpoint()
    page = f"{where}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    for cur in _chain(e):
        status = _status(cur)
        if isinstance(cur, hf_errors.OfflineModeIsEnabled):
            return Failure("offline", "offline mode is on (HF_HUB_OFFLINE)", "unset HF_HUB_OFFLINE to download it")
        if status == 401 and _header(cur, "X-Error-Message") == "Invalid credentials in Authorization header":
            return Failure(
                "token",
                "the hub rejected the token (401: invalid or expired)",
                f"create a new token and log in again ({LOGIN}), or unset HF_TOKEN for public repos",
            )
        if isinstance(cur, hf_errors.GatedRepoError):
            return Failure("gated", f"{repo_id} is gated", f"accept its terms at {page} and log in ({LOGIN})")
        if isinstance(cur, hf_errors.RevisionNotFoundError):
            return Failure("revision", f"{repo_id} has no such revision", "check the revision (branch, tag or commit)")
        if isinstance(cur, hf_errors.RepositoryNotFoundError):
            return Failure(
                "not-found",
                f"{repo_id} was not found on {where} (or it is private)",
                f"check the id and HF_ENDPOINT; for a private repo log in ({LOGIN})",
            )
        if status == 403:
            return Failure("gated", f"{repo_id}: access denied (403)", f"request access at {page} and log in ({LOGIN})")
        if status == 429:
            wait = _header(cur, "Retry-After")
            return Failure(
                "rate-limited",
                f"{where} is rate-limiting requests (429)",
                f"wait{f' {wait} s' if wait else ''} and rerun; logged-in requests get higher limits ({LOGIN})",
            )
        if status is not None and status >= 500:
            return Failure(
                "server",
                f"{where} answered {status} (server error)",
                "rerun later, set HF_HUB_OFFLINE=1 to use a cached copy, or pass --data-dir",
            )
        name = type(cur).__name__
        if name == "ProxyError" or "proxy" in name.lower():
            return Failure(
                "proxy",
                f"the proxy failed ({name}: {str(cur)[:120]})",
                f"check the proxy settings ({proxies() or 'HTTPS_PROXY / ALL_PROXY are not set'})",
            )
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "WriteTimeout", "PoolTimeout"):
            via = f" through {proxies()}" if proxies() else ""
            return Failure(
                "unreachable",
                f"{where} is unreachable{via} ({name})",
                "check the network, HF_ENDPOINT and proxy settings, or set HF_HUB_OFFLINE=1 to use the cache",
            )
        if isinstance(cur, OSError) and cur.errno == errno.ENOSPC:
            return Failure("disk", "the disk is full", f"free space in {hf_cache_dir()} (or set HF_HOME to a larger disk)")
        if isinstance(cur, hf_errors.HfHubHTTPError) and status is not None:
            return Failure("server", f"{where} answered {status}", "rerun later, or pass --data-dir with a local copy")
    return None


def torch_checkpoint_dir() -> str:
    """Where torchvision's `load_state_dict_from_url` caches weights ($TORCH_HOME/hub/checkpoints)."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints")


def hf_cache_dir() -> str:
    """Where huggingface_hub caches model and dataset files ($HF_HOME/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE
