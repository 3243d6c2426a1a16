"""Fetch only the split you evaluate from a Hugging Face dataset repository, through huggingface_hub itself.

`datasets.load_dataset("ILSVRC/imagenet-1k", split="validation")` downloads and prepares every split
(datasets issue #6793): ~150 GB of train to read 6.7 GB of validation. Here the split's data files are
chosen from the repository's tree listing (the one `snapshot_download` uses; `siblings` may be truncated)
with datasets' own rules (the card's `configs:` data_files, else datasets' default split patterns), only
those files are downloaded with `hf_hub_download` into the HF hub cache (blobs/, symlinked snapshots/,
refs/), each is checked against the listing's sha256, else its size, else reported unverified, and the
bytes are reported. The listing is recorded beside the cache, so that offline (or when the hub answers
but fails) a partial cache is told apart from a complete one: a missing shard is an error naming the
files and the `hf download` command that fetches them; a complete cache stands in for a failing hub,
with a line on stderr saying so and why. Labels come from the card's `dataset_info`, else
`dataset_infos.json` (as `datasets` reads them), and the split's `num_examples` is checked.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import hub
from ..errors import DatasetUnavailableError

DOWNLOAD_THREADS = 8  # as huggingface_hub.snapshot_download
CARD = "README.md"
INFOS = "dataset_infos.json"  # the legacy metadata file datasets falls back to (zh-plus/tiny-imagenet has one)
LISTINGS = "bench-listings"  # beside refs/ and snapshots/: the last successful listing of each commit


class NotCachedError(DatasetUnavailableError):
    """The repository (at that revision) has no snapshot in the HF hub cache."""


class PartialCacheError(DatasetUnavailableError):
    """The cached snapshot lacks some of the split's files."""

    def __init__(self, message: str, missing: int, total: int):
        super().__init__(message)
        self.missing, self.total = missing, total


@dataclass(frozen=True)
class RepoFile:
    """One file of a repository listing: where it is, and what the hub says it holds."""

    path: str
    size: int | None = None
    sha256: str | None = None  # the LFS oid; None for non-LFS files and where the listing leaves it out


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
    num_examples: int | None = None  # what the card (or dataset_infos.json) says the split holds

    @property
    def split_bytes(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if None in sizes else sum(s or 0 for s in sizes)

    @property
    def repo_bytes(self) -> int | None:
        sizes = [f.size for f in self.listing]
        return None if None in sizes else sum(s or 0 for s in sizes)

    def sizes(self) -> str:
        """ "{split} of {repo} in the repository", or what is known of it."""
        split, repo = self.split_bytes, self.repo_bytes
        if split is None:
            return "sizes not listed"
        return f"{human(split)} of {human(repo)}" if repo is not None else human(split)

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
    checks: dict[str, str]  # path -> "sha256" | "size" | "unverified" (how it was verified)

    @property
    def source(self) -> str:
        rev = f"@{self.split_files.revision[:12]}" if self.split_files.revision else ""
        return f"hf:{self.split_files.repo_id}{rev}"

    def summary(self) -> str:
        sf = self.split_files
        how = [h for h in ("sha256", "size") if h in self.checks.values()]
        unverified = sum(1 for h in self.checks.values() if h == "unverified")
        verified = f"verified by {', '.join(how)}" if how else "unverified"
        if how and unverified:
            verified += f" ({unverified} unverified: the listing gives neither size nor sha256)"
        elif not how:
            verified += " (the listing gives neither size nor sha256)"
        return (
            f"{sf.repo_id} {sf.split}: {len(sf.files)} of {len(sf.listing)} files, {sf.sizes()} in the repository; "
            f"downloaded {human(self.downloaded_bytes)}, {human(self.cached_bytes)} already cached; {verified}"
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


def dataset_infos(root: str | Path | None):
    """datasets' DatasetInfosDict of a repository folder: the card's `dataset_info`, else `dataset_infos.json`."""
    if root is None or not Path(root).is_dir():
        return {}
    from datasets.info import DatasetInfosDict

    return DatasetInfosDict.from_directory(str(root))


def split_info(root: str | Path | None, config: str | None, split: str) -> tuple[Any, int | None]:
    """(datasets.Features with the ClassLabel names, the split's num_examples) of the config, as far as known."""
    infos = dataset_infos(root)
    info = infos.get(config or "default") or (next(iter(infos.values())) if len(infos) == 1 else None)
    if info is None:
        return None, None
    splits = info.splits or {}
    n = splits[split].num_examples if split in splits else None
    return info.features, (n or None)


def check_count(sf: SplitFiles, n: int) -> None:
    """The split read holds as many examples as the card says (a partial copy or a stale card otherwise)."""
    if sf.num_examples is not None and n != sf.num_examples:
        raise DatasetUnavailableError(
            f"{sf.repo_id} {sf.split}: {n} examples in {len(sf.files)} files, but its card says {sf.num_examples}: "
            f"files are missing or stale; fetch the split again with {fetch_command(sf.repo_id, sf.files, sf.split, sf.revision)}"
        )


# --- listings: the hub, the hub cache, a local directory ----------------------------------------------


def _storage(repo_id: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo_id, repo_type="dataset")


def _is_commit(rev: str | None) -> bool:
    return rev is not None and re.fullmatch(r"[0-9a-f]{40}", rev) is not None


def hub_listing(repo_id: str, revision: str | None = None) -> tuple[str, list[RepoFile]]:
    """(commit sha, every file with size and LFS sha256) from the hub's tree listing, as `snapshot_download` lists.

    The `siblings` of the repo info may be truncated, so they are only the fallback for a listing the client
    cannot parse (a mirror leaving out sizes or LFS oids raises KeyError in it): then the names, and whatever
    sizes and hashes the siblings carry, are what there is to verify against.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.hf_api import RepoFile as HubFile

    api = HfApi()
    info = api.repo_info(repo_id, repo_type="dataset", revision=revision, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    sha = str(info.sha)
    try:
        tree = api.list_repo_tree(repo_id, recursive=True, revision=sha, repo_type="dataset")
        return sha, [RepoFile(f.path, f.size, f.lfs.sha256 if f.lfs else None) for f in tree if isinstance(f, HubFile)]
    except KeyError as e:
        missing = e
    try:
        info = api.repo_info(repo_id, repo_type="dataset", revision=sha, files_metadata=True)
    except KeyError:
        pass  # the siblings' metadata is as incomplete: names only
    _log(f"bench: {repo_id}: the hub's tree listing has no {missing} field; using its file names (siblings)")
    return sha, [
        RepoFile(
            s.rfilename,
            s.size if s.size is not None else (s.lfs.size if s.lfs else None),
            s.lfs.sha256 if s.lfs is not None and getattr(s.lfs, "sha256", None) else None,
        )
        for s in getattr(info, "siblings", None) or []
    ]


def record_listing(repo_id: str, revision: str | None, sha: str, listing: Sequence[RepoFile]) -> None:
    """Keep the listing beside the cache (and refs/<revision> -> sha, as the library does), for offline checks."""
    from ..store.atomic import write_file

    storage = _storage(repo_id)
    data = {"repo_id": repo_id, "sha": sha, "files": [[f.path, f.size, f.sha256] for f in listing]}
    write_file(storage / LISTINGS / f"{sha}.json", json.dumps(data))
    if not _is_commit(revision):
        write_file(storage / "refs" / (revision or "main"), sha)


def recorded_listing(repo_id: str, sha: str) -> list[RepoFile] | None:
    """The last successful listing of commit `sha`: ours, else the tree listing huggingface_hub caches
    (`snapshot_download` / `hf download` write `trees/<sha>.json`); None when neither is there."""
    storage = _storage(repo_id)
    try:
        data = json.loads((storage / LISTINGS / f"{sha}.json").read_text())
        return [RepoFile(p, size, digest) for p, size, digest in data["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        tree = json.loads((storage / "trees" / f"{sha}.json").read_text())["files"]
        return [RepoFile(p, e.get("lfs_size") or e.get("size"), e.get("lfs_sha256")) for p, e in tree.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def cached_commit(repo_id: str, revision: str | None = None) -> str | None:
    """The commit of the cached snapshot at `revision` (a ref, default main, or a commit), or None.

    Read from the cache layout directly: `snapshot_download(local_files_only=True)` refuses a snapshot that
    holds only some of the repository's files, and a split-only fetch leaves exactly such a snapshot.
    """
    storage = _storage(repo_id)
    rev = revision or "main"
    if _is_commit(rev):
        return rev
    if (storage / "refs" / rev).is_file():
        return (storage / "refs" / rev).read_text().strip()
    if revision is None and (storage / "snapshots").is_dir():
        # files fetched pinned to a commit by another tool leave no refs/main: take the newest snapshot
        snapshots = sorted(
            (p for p in (storage / "snapshots").iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name)
        )
        return snapshots[-1].name if snapshots else None
    return None


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of the repo at `revision`, or None."""
    sha = cached_commit(repo_id, revision)
    snapshot = _storage(repo_id) / "snapshots" / sha if sha else None
    return snapshot if snapshot is not None and snapshot.is_dir() else None


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
    features, n = split_info(root, config, split)
    return SplitFiles(name or str(root), None, split, patterns, files, listing, features, str(root), n)


def fetch_command(repo_id: str, files: Sequence[RepoFile], split: str, revision: str | None) -> str:
    """The `hf download` line that fetches these files into the HF hub cache (huggingface_hub >= 1.0)."""
    paths = [f.path for f in files]
    folder = paths[0].rsplit("/", 1)[0] + "/" if paths and "/" in paths[0] else ""
    glob = f"{folder}{split}-*"
    includes = [glob] if all(fnmatch.fnmatch(p, glob) for p in paths) else paths[:4]
    rev = f" --revision {revision}" if revision else ""
    return f"`hf download {repo_id} --repo-type dataset{rev} " + " ".join(f'--include "{p}"' for p in includes) + "`"


def cached_split(repo_id: str, split: str, revision: str | None = None) -> SplitFiles:
    """The split from the HF hub cache, checked against the recorded listing: every file there, at its size.

    Without a recorded listing (a cache filled by other tools), the snapshot's own files are the listing,
    and only the card's num_examples can tell a partial copy.
    """
    from huggingface_hub import constants

    sha = cached_commit(repo_id, revision)
    snapshot = _storage(repo_id) / "snapshots" / sha if sha else None
    if snapshot is None or not snapshot.is_dir():
        raise NotCachedError(f"{repo_id} is not in the HF hub cache ({constants.HF_HUB_CACHE})")
    assert sha is not None
    listing = recorded_listing(repo_id, sha) or dir_listing(snapshot)
    data = card_data(snapshot / CARD)
    patterns, files, config = choose(repo_id, split, listing, data)
    missing = [f for f in files if not (snapshot / f.path).is_file()]
    if missing:
        names = ", ".join(f.path for f in missing[:3]) + (", …" if len(missing) > 3 else "")
        raise PartialCacheError(
            f"{repo_id} {split}: {len(missing)} of {len(files)} files are not in the HF hub cache ({snapshot}): "
            f"{names}; fetch them with {fetch_command(repo_id, files, split, sha)}",
            len(missing),
            len(files),
        )
    for f in files:
        size = (snapshot / f.path).stat().st_size
        if f.size is not None and size != f.size:
            raise DatasetUnavailableError(
                f"{repo_id}: the cached {f.path} is corrupt ({size} bytes, the hub listed {f.size}) at "
                f"{snapshot / f.path}: remove it (`hf cache rm dataset/{repo_id}`) and fetch it again"
            )
    features, n = split_info(snapshot, config, split)
    return SplitFiles(repo_id, sha, split, patterns, files, listing, features, str(snapshot), n)


# --- resolving and downloading from the hub -----------------------------------------------------------


def _fallback(e: BaseException, repo_id: str, split: str, revision: str | None) -> SplitFiles:
    """The hub call failed: a complete cached copy stands in (said on stderr); otherwise one line naming the fix."""
    failure = hub.classify(e, repo_id)
    if failure is None:
        raise e
    try:
        sf = cached_split(repo_id, split, revision)
    except NotCachedError:
        raise DatasetUnavailableError(
            f"{failure.message(f'could not fetch {repo_id}')}, or pass --data-dir with a local copy"
        ) from e
    except PartialCacheError as partial:
        held = f"the HF hub cache holds {partial.total - partial.missing} of the split's {partial.total} files"
        if failure.transient:  # the user can fetch the rest once the hub is back: name the files and the command
            raise DatasetUnavailableError(f"{failure.message(f'could not fetch {repo_id}')}; and {partial}") from e
        raise DatasetUnavailableError(f"{failure.message(f'could not fetch {repo_id}')} ({held}), or pass --data-dir") from e
    except DatasetUnavailableError as cache:  # a corrupt cached file
        raise DatasetUnavailableError(f"{failure.message(f'could not fetch {repo_id}')}; and {cache}") from e
    assert sf.revision is not None
    _log(f"bench: {failure.reason}; using the complete cached copy of {repo_id} {split} (commit {sf.revision[:12]})")
    return sf


def resolve(repo_id: str, split: str, revision: str | None = None, offline: bool = False) -> SplitFiles:
    """The split's files, from the hub's listing (online) or from the cache (offline, or the hub failing).

    Online only the card (README.md) and dataset_infos.json are downloaded, for `configs:`, labels and counts.
    """
    if offline:
        try:
            return cached_split(repo_id, split, revision)
        except NotCachedError as e:
            raise DatasetUnavailableError(
                f"{e} and huggingface_hub is offline (HF_HUB_OFFLINE): run once online, or pass --data-dir with a "
                "local copy (HF parquet, Stanford folder or ImageFolder of wnid dirs)"
            ) from None
    try:
        sha, listing = hub_listing(repo_id, revision)
        record_listing(repo_id, revision, sha, listing)
        names = {f.path for f in listing}
        meta = [_download(repo_id, name, sha) for name in (CARD, INFOS) if name in names]
        root = str(Path(meta[0]).parent) if meta else None
    except DatasetUnavailableError:
        raise
    except Exception as e:
        return _fallback(e, repo_id, split, revision)
    data = card_data(Path(root) / CARD) if root else None
    patterns, files, config = choose(repo_id, split, listing, data)
    features, n = split_info(root, config, split)
    return SplitFiles(repo_id, sha, split, patterns, files, listing, features, None, n)


def _download(repo_id: str, path: str, revision: str | None) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, path, repo_type="dataset", revision=revision)


def _is_cached(repo_id: str, path: str, revision: str | None) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, path, revision=revision, repo_type="dataset"), str)


def sha256_of(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(local: str, expected: RepoFile, hash_it: bool, repo_id: str = "") -> str:
    """Check a file against the listing: sha256 (when given and `hash_it`), else its size, else "unverified"."""
    size = os.path.getsize(local)
    fix = f"remove it from the HF hub cache (`hf cache rm dataset/{repo_id}`) and rerun to fetch it again"
    if expected.size is not None and size != expected.size:
        raise DatasetUnavailableError(f"{expected.path}: {size} bytes on disk but the hub lists {expected.size}: {fix}")
    if hash_it and expected.sha256:
        got = sha256_of(local)
        if got != expected.sha256:
            raise DatasetUnavailableError(
                f"{expected.path}: sha256 {got[:12]}… differs from the hub's {expected.sha256[:12]}…: {fix}"
            )
        return "sha256"
    return "size" if expected.size is not None else "unverified"


def download(sf: SplitFiles) -> Fetched:
    """Download the split's files (only those) into the HF hub cache and verify them.

    A file already in the cache is not downloaded again and only its size is checked (it was hashed
    when it was fetched); a file fetched now is checked against the hub's sha256 where the hub gives one.
    """
    if sf.root is not None:  # a checked cached snapshot, or a local copy: nothing to fetch
        paths = sf.local_paths()
        missing = [f.path for f, p in zip(sf.files, paths) if not Path(p).is_file()]
        if missing:
            raise DatasetUnavailableError(f"{sf.repo_id}: {len(missing)} file(s) of {sf.split} are missing, e.g. {missing[0]}")
        checks = {p: "size" if f.size is not None else "unverified" for f, p in zip(sf.files, paths)}
        return Fetched(sf, paths, 0, sum(os.path.getsize(p) for p in paths), checks)
    cached = {f.path: _is_cached(sf.repo_id, f.path, sf.revision) for f in sf.files}

    def fetch(f: RepoFile) -> tuple[str, str]:
        local = _download(sf.repo_id, f.path, sf.revision)
        return local, verify(local, f, not cached[f.path], sf.repo_id)

    with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, max(1, len(sf.files)))) as pool:
        done = list(pool.map(fetch, sf.files))
    new = sum(os.path.getsize(p) for f, (p, _) in zip(sf.files, done) if not cached[f.path])
    old = sum(os.path.getsize(p) for f, (p, _) in zip(sf.files, done) if cached[f.path])
    return Fetched(sf, [p for p, _ in done], new, old, {p: how for p, how in done})


def fetch_split(repo_id: str, split: str, offline: bool = False, revision: str | None = None) -> Fetched:
    """resolve + download + one line on stderr saying what was fetched; a hub failing mid-way falls back to the cache."""
    sf = resolve(repo_id, split, revision, offline)
    try:
        fetched = download(sf)
    except DatasetUnavailableError:
        raise
    except Exception as e:
        fetched = download(_fallback(e, repo_id, split, revision))
    _log(fetched.summary())
    return fetched


def corrupt_file(files: Sequence[str]) -> str | None:
    """The first local file whose parquet footer cannot be read (a truncated or damaged download), or None."""
    import pyarrow.parquet as pq

    for path in files:
        if "://" in path:
            continue
        try:
            pq.read_metadata(path)
        except Exception:
            return path
    return None


def load_parquet(files: Sequence[str], split: str, features=None, streaming: bool = False):
    """The `parquet` builder over exactly these files (local paths or hf:// URLs), in this order.

    A cached file that is not parquet is reported as corrupt, with its path (not as "not in the cache").
    """
    import datasets as hfds

    try:
        return hfds.load_dataset("parquet", data_files={split: list(files)}, split=split, features=features, streaming=streaming)
    except Exception as e:
        bad = corrupt_file(files)
        if bad is None:
            raise
        raise DatasetUnavailableError(
            f"{bad} is corrupt (not readable as parquet: {type(e).__name__}): delete it (or `hf cache rm` its repository) "
            "and fetch it again"
        ) from e
