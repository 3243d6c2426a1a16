"""Fetch only the split you evaluate from a Hugging Face dataset repository.

`datasets.load_dataset("ILSVRC/imagenet-1k", split="validation")` downloads and prepares every split
(datasets issue #6793): ~150 GB of train to read 6.7 GB of validation. Here the split's data files are
chosen from the repository's file listing with datasets' own rules (the README's `configs:` data_files,
else datasets' default split patterns such as `data/{split}-00000-of-00014*`), only those files are
downloaded into the HF hub cache, each is checked against the hub's size and sha256, and the bytes are
reported. The files are then read with the `parquet` builder, keeping the card's ClassLabel features.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetUnavailableError

DOWNLOAD_THREADS = 8  # as huggingface_hub.snapshot_download
CARD = "README.md"


@dataclass(frozen=True)
class RepoFile:
    """One file of a repository listing: where it is, and what the hub says it holds."""

    path: str
    size: int | None = None
    sha256: str | None = None  # the LFS oid; None for non-LFS files and where the hub masks it (gated repos)


@dataclass
class SplitFiles:
    """A split's data files in a repository (or a local copy), chosen from its listing."""

    repo_id: str
    revision: str | None  # commit the listing came from (None for a local directory)
    split: str
    patterns: list[str]  # the data_files patterns that chose `files`
    files: list[RepoFile]  # this split's files, in datasets' order (the sample order)
    listing: list[RepoFile] = field(repr=False)  # every file of the repository
    features: Any = None  # datasets.Features from the card's dataset_info (ClassLabel names), if it has one
    root: str | None = None  # local directory the paths are relative to (a local copy or a cached snapshot)

    @property
    def split_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def repo_bytes(self) -> int:
        return sum(f.size or 0 for f in self.listing)

    def local_paths(self) -> list[str]:
        if self.root is None:
            raise ValueError("the files are remote: download them first")
        return [str(Path(self.root) / f.path) for f in self.files]

    def urls(self) -> list[str]:
        """hf:// URLs pinned to the listed commit, for streaming without a local copy."""
        return [f"hf://datasets/{self.repo_id}@{self.revision}/{f.path}" for f in self.files]


@dataclass
class Fetched:
    """What `download` did: local paths of the split's files and how many bytes crossed the network."""

    split_files: SplitFiles
    paths: list[str]
    downloaded_bytes: int
    cached_bytes: int
    checks: dict[str, str]  # path -> "sha256" | "size" | "cached" (how it was verified)

    @property
    def source(self) -> str:
        rev = f"@{self.split_files.revision[:12]}" if self.split_files.revision else ""
        return f"hf:{self.split_files.repo_id}{rev}"

    def summary(self) -> str:
        sf = self.split_files
        how = sorted(set(self.checks.values()))
        return (
            f"{sf.repo_id} {sf.split}: {len(sf.files)} of {len(sf.listing)} files, {human(sf.split_bytes)} of "
            f"{human(sf.repo_bytes)} in the repository; downloaded {human(self.downloaded_bytes)}, "
            f"{human(self.cached_bytes)} already cached; verified by {', '.join(how) or 'nothing'}"
        )


def human(n: int) -> str:
    """Bytes in SI units, as huggingface_hub's progress bars show them: 6.69 GB."""
    value, unit = float(n), "B"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- choosing a split's files from a listing --------------------------------------------------------


@contextlib.contextmanager
def _listing_fs(paths: Sequence[str]) -> Iterator[str]:
    """The listing as an in-memory fsspec tree, so that datasets' own glob rules resolve patterns on it.

    Yields the base URL; the tree is removed afterwards (fsspec's memory store is process-wide).
    """
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    root = f"/bench-listing-{uuid.uuid4().hex}"
    fs.pipe({f"{root}/{p}": b"" for p in paths})
    try:
        yield f"memory://{root}"
    finally:
        fs.rm(root, recursive=True)


def card_data(readme: str | Path | None):
    """The YAML header of a dataset card (DatasetCardData), or None without a card."""
    if readme is None or not Path(readme).is_file():
        return None
    from huggingface_hub import DatasetCard

    return DatasetCard.load(Path(readme)).data


def split_patterns(paths: Sequence[str], data) -> tuple[dict[str, list[str]], str | None]:
    """split -> data_files patterns, as datasets decides them: the card's default config, else its defaults.

    Returns the patterns and the config name they came from (None: datasets' default patterns).
    """
    from datasets.data_files import get_data_patterns, sanitize_patterns
    from datasets.utils.metadata import MetadataConfigs

    if data is not None:
        configs = MetadataConfigs.from_dataset_card_data(data)
        name = configs.get_default_config_name() if configs else None
        if name is not None and configs[name].get("data_files"):
            return {s: list(p) for s, p in sanitize_patterns(configs[name]["data_files"]).items()}, name
    with _listing_fs(paths) as base:
        try:
            return get_data_patterns(base), None
        except FileNotFoundError:
            return {}, None


def select(paths: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The listed paths that datasets' `resolve_pattern` matches, in its order (pattern by pattern, sorted)."""
    from datasets.data_files import resolve_pattern

    chosen: list[str] = []
    with _listing_fs(paths) as base:
        root = base.split("://", 1)[1] + "/"
        for pattern in patterns:
            try:
                found = resolve_pattern(pattern, base)
            except FileNotFoundError:
                continue
            for url in found:
                rel = url.split(root, 1)[1]
                if rel not in chosen:
                    chosen.append(rel)
    return chosen


def choose(repo_id: str, split: str, listing: Sequence[RepoFile], data) -> tuple[list[str], list[RepoFile], str | None]:
    """(patterns, files) of `split`; a split the repository does not have is a usage error naming the ones it has."""
    paths = [f.path for f in listing]
    by_split, config = split_patterns(paths, data)
    if split not in by_split:
        have = ", ".join(by_split) or "none that datasets recognises"
        raise DatasetUnavailableError(f"{repo_id} has no split {split!r} (its splits: {have}): pick one of those with --split")
    patterns = by_split[split]
    chosen = select(paths, patterns)
    if not chosen:
        raise DatasetUnavailableError(
            f"{repo_id}: no file matches the {split!r} data_files {patterns}: the listing may be partial (offline cache?)"
        )
    unreadable = [p for p in chosen if not p.endswith(".parquet")]
    if unreadable:
        raise DatasetUnavailableError(
            f"{repo_id} {split}: {unreadable[0]} is not parquet; pass --data-dir with a local copy instead"
        )
    index = {f.path: f for f in listing}
    return patterns, [index[p] for p in chosen], config


def features_from_card(data, config: str | None):
    """datasets.Features of the config from the card's dataset_info (keeps ClassLabel names), or None."""
    if data is None:
        return None
    from datasets.info import DatasetInfosDict

    infos = DatasetInfosDict.from_dataset_card_data(data)
    info = infos.get(config or "default") or (next(iter(infos.values())) if len(infos) == 1 else None)
    return info.features if info is not None else None


# --- listings: the hub, the hub cache, a local directory ----------------------------------------------


def hub_listing(repo_id: str, revision: str | None = None) -> tuple[str | None, list[RepoFile]]:
    """(commit sha, files with size and LFS sha256) of a dataset repository, from the hub's API (which may leave
    the sha out: then files are fetched at `revision`'s latest)."""
    from huggingface_hub import HfApi

    info = HfApi().dataset_info(repo_id, revision=revision, files_metadata=True)
    files = [
        RepoFile(
            s.rfilename,
            s.size if s.size is not None else (s.lfs.size if s.lfs else None),
            s.lfs.sha256 if s.lfs is not None and getattr(s.lfs, "sha256", None) else None,
        )
        for s in info.siblings or []
    ]
    return info.sha, files


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of the repo at `revision` (a ref, default main, or a commit), or None.

    Read from the cache layout directly: `snapshot_download(local_files_only=True)` refuses a snapshot
    that holds only some of the repository's files once it has cached the tree listing, and a split-only
    fetch leaves exactly such a snapshot.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    storage = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="dataset")
    rev = revision or "main"
    if re.fullmatch(r"[0-9a-f]{40}", rev):
        snapshot = storage / "snapshots" / rev
    elif (storage / "refs" / rev).is_file():
        snapshot = storage / "snapshots" / (storage / "refs" / rev).read_text().strip()
    elif revision is None and (storage / "snapshots").is_dir():
        # files fetched pinned to a commit (as `download` does) leave no refs/main: take the newest snapshot
        snapshots = sorted(
            (p for p in (storage / "snapshots").iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name)
        )
        snapshot = snapshots[-1] if snapshots else storage / "snapshots" / "-"
    else:
        return None
    return snapshot if snapshot.is_dir() else None


def dir_listing(root: Path) -> list[RepoFile]:
    """Every file under `root` (a local copy or a cached snapshot), with its size."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out.append(RepoFile(p.relative_to(root).as_posix(), p.stat().st_size))
    return out


def local_split(root: str | Path, split: str, name: str | None = None) -> SplitFiles:
    """A split's files in a local HF-style copy (README.md + parquet), chosen by the same rules as on the hub."""
    root = Path(root)
    listing = dir_listing(root)
    data = card_data(root / CARD)
    patterns, files, config = choose(name or str(root), split, listing, data)
    return SplitFiles(name or str(root), None, split, patterns, files, listing, features_from_card(data, config), str(root))


# --- resolving and downloading from the hub -----------------------------------------------------------


def resolve(repo_id: str, split: str, revision: str | None = None, offline: bool = False) -> SplitFiles:
    """The split's files, from the hub's listing (online) or from the cached snapshot (offline); no data bytes move.

    Only the card (README.md, a few kB) is downloaded, for its `configs:` and ClassLabel features.
    """
    if offline:
        snapshot = cached_snapshot(repo_id, revision)
        if snapshot is None:
            from huggingface_hub import constants

            raise DatasetUnavailableError(
                f"{repo_id} is not in the HF hub cache ({constants.HF_HUB_CACHE}) and the hub is unreachable: "
                "pass --data-dir with a local copy (HF parquet, Stanford folder or ImageFolder of wnid dirs)"
            )
        listing = dir_listing(snapshot)
        data = card_data(snapshot / CARD)
        patterns, files, config = choose(repo_id, split, listing, data)
        return SplitFiles(
            repo_id, snapshot.name, split, patterns, files, listing, features_from_card(data, config), str(snapshot)
        )
    sha, listing = hub_listing(repo_id, revision)
    data = None
    if any(f.path == CARD for f in listing):
        data = card_data(_download(repo_id, CARD, sha))
    patterns, files, config = choose(repo_id, split, listing, data)
    return SplitFiles(repo_id, sha, split, patterns, files, listing, features_from_card(data, config))


def _download(repo_id: str, path: str, revision: str | None) -> str:
    import huggingface_hub

    return huggingface_hub.hf_hub_download(repo_id, path, repo_type="dataset", revision=revision)


def _is_cached(repo_id: str, path: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, path, revision=revision, repo_type="dataset"), str)


def sha256_of(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(local: str, expected: RepoFile, hash_it: bool) -> str:
    """Check a fetched file against the listing: size always, sha256 when the hub gave one and `hash_it`."""
    size = os.path.getsize(local)
    fix = "delete it from the HF hub cache (`hf cache delete`) and rerun to fetch it again"
    if expected.size is not None and size != expected.size:
        raise DatasetUnavailableError(f"{expected.path}: {size} bytes on disk but the hub lists {expected.size}: {fix}")
    if hash_it and expected.sha256:
        got = sha256_of(local)
        if got != expected.sha256:
            raise DatasetUnavailableError(
                f"{expected.path}: sha256 {got[:12]}… differs from the hub's {expected.sha256[:12]}…: {fix}"
            )
        return "sha256"
    return "size" if expected.size is not None else "present"


def download(sf: SplitFiles) -> Fetched:
    """Download the split's files (only those) into the HF hub cache and verify them.

    A file already in the cache is not downloaded again and only its size is checked (it was hashed
    when it was fetched); a file fetched now is checked against the hub's sha256 where the hub gives one.
    """
    if sf.root is not None:  # a cached snapshot (offline) or a local copy: nothing to fetch
        paths = sf.local_paths()
        missing = [f.path for f, p in zip(sf.files, paths) if not Path(p).is_file()]
        if missing:
            raise DatasetUnavailableError(f"{sf.repo_id}: {len(missing)} file(s) of {sf.split} are not cached, e.g. {missing[0]}")
        return Fetched(sf, paths, 0, sum(os.path.getsize(p) for p in paths), {p: "cached" for p in paths})
    cached = {f.path: _is_cached(sf.repo_id, f.path, sf.revision) for f in sf.files}

    def fetch(f: RepoFile) -> tuple[str, str]:
        local = _download(sf.repo_id, f.path, sf.revision)
        return local, verify(local, f, hash_it=not cached[f.path])

    with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, max(1, len(sf.files)))) as pool:
        done = list(pool.map(fetch, sf.files))
    new = sum(f.size or os.path.getsize(p) for f, (p, _) in zip(sf.files, done) if not cached[f.path])
    old = sum(f.size or os.path.getsize(p) for f, (p, _) in zip(sf.files, done) if cached[f.path])
    return Fetched(sf, [p for p, _ in done], new, old, {p: how for p, how in done})


def fetch_split(repo_id: str, split: str, offline: bool = False, revision: str | None = None) -> Fetched:
    """resolve + download + one line on stderr saying what was fetched."""
    fetched = download(resolve(repo_id, split, revision, offline))
    _log(fetched.summary())
    return fetched


def load_parquet(files: Sequence[str], split: str, features=None, streaming: bool = False):
    """The `parquet` builder over exactly these files (local paths or hf:// URLs), in this order."""
    import datasets as hfds

    return hfds.load_dataset("parquet", data_files={split: list(files)}, split=split, features=features, streaming=streaming)
