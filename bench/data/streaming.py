"""`--streaming`: evaluate from a Hugging Face IterableDataset, with no local copy of the split.

The split's parquet files are chosen as in `hub_files` (hf:// URLs pinned to a commit, or the files
of a local HF copy) and read twice: once for the label and file-name columns only (parquet column
projection: ~100 kB for 50,000 rows), which gives n, the labels, `--limit`'s stratified indices and
`--classes`; then the images stream through `load_dataset(..., streaming=True)`. Under torchrun each
rank takes every world_size-th example (`split_dataset_by_node(strategy="examples")`), so rank r sees
stream positions r, r + W, ... — the same strided shards as the materialised path — and the gathered
predictions are the same sample for sample. Decoding runs in a thread pool (PIL releases the GIL)
or batched on the GPU, with the same per-sample code as the materialised loaders.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BenchError, DatasetUnavailableError
from . import hub_files
from . import labels as label_spaces

PREFETCH_BATCHES = 2
# The index pass reads a few column chunks and the footer of each file: fetch exactly those byte ranges
# (fsspec's default 5 MiB read-ahead blocks turned 0.9 MB of label columns into 58 MB of transfer).
INDEX_BLOCK = 1 << 16


@dataclass
class StreamedImageSet:
    """An ImageSet whose images are read in order from a stream: labels, names and n are known up front."""

    name: str
    split: str
    label_space: label_spaces.LabelSpace
    labels: list[int]
    source: str
    files: list[str]  # hf:// URLs or local paths, in sample order
    features: Any = field(repr=False)  # datasets.Features of the files (Image + ClassLabel)
    hf_column: str = "image"
    label_column: str = "label"
    names: list[str] = field(default_factory=list, repr=False)
    origin: list[int] = field(default_factory=list, repr=False)  # stream position of each sample (after --classes)
    stream_labels: list[int] = field(default_factory=list, repr=False)  # raw label per stream position, to check the order
    rank: int = 0
    world_size: int = 1
    streamed = True  # what the runner asks to pick the streaming pipeline
    _inflight: dict[int, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.labels)

    def ids(self) -> list[str]:
        return list(self.names)

    def raw(self, i: int):
        """The undecoded image of sample i while its batch is in flight (streams have no random access)."""
        try:
            cell = self._inflight.pop(i)
        except KeyError:
            raise DatasetUnavailableError(f"sample {i} is not in flight: a streamed dataset is read in order, once") from None
        return cell["bytes"] if cell.get("bytes") else cell["path"]

    def restrict_classes(self, space: label_spaces.LabelSpace) -> StreamedImageSet:
        """Only the samples whose class is in `space` (as ImageSet.restrict_classes, keeping stream positions)."""
        from .datasets import kept_classes

        keep_space, keep, labels = kept_classes(self, space)
        return StreamedImageSet(
            self.name,
            self.split,
            keep_space,
            labels,
            f"{self.source} (classes of {space.name})",
            self.files,
            self.features,
            self.hf_column,
            self.label_column,
            [self.names[i] for i in keep],
            [self.origin[i] for i in keep],
            self.stream_labels,
            self.rank,
            self.world_size,
        )

    def stream(self):
        """This rank's examples: an IterableDataset over the files, images left undecoded."""
        import datasets as hfds
        from datasets.distributed import split_dataset_by_node

        ds = hub_files.load_parquet(self.files, self.split, self.features, streaming=True)
        ds = ds.cast_column(self.hf_column, hfds.Image(decode=False)).select_columns([self.hf_column, self.label_column])
        if self.world_size > 1:
            import inspect

            if "strategy" not in inspect.signature(split_dataset_by_node).parameters:
                # older releases pick per-file shards when num_shards % world_size == 0, which loses the positions
                raise DatasetUnavailableError(
                    f"--streaming under torchrun needs split_dataset_by_node(strategy=...) (datasets {hfds.__version__} "
                    "has none): upgrade datasets, or drop --streaming"
                )
            ds = split_dataset_by_node(ds, rank=self.rank, world_size=self.world_size, strategy="examples")
        return ds


# --- finding the files and indexing them ------------------------------------------------------------


def load(name: str, split: str | None = None, data_dir: str | Path | None = None) -> StreamedImageSet:
    """The split of an HF parquet dataset (the hub, or a local HF copy) as a stream, indexed by its label column."""
    from .datasets import canonical_split, info_for

    info = info_for(name)
    split = canonical_split(name, split)
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        if not (root / hub_files.CARD).is_file() and not any(root.rglob("*.parquet")):
            raise DatasetUnavailableError(
                f"--streaming reads HF parquet datasets: {root} holds no parquet files; drop --streaming for {info.layout}"
            )
        sf = hub_files.local_split(root, split, str(root))
        files, source = sf.local_paths(), f"hf-local:{root}"
    elif info.hf_id is not None:
        from .. import hub

        sf = hub_files.resolve(info.hf_id, split, offline=hub.offline())
        # offline (or with the hub failing), the cached snapshot's files are read in place (still no prepared copy)
        files = sf.local_paths() if sf.root is not None else sf.urls()
        source = f"hf:{info.hf_id}@{(sf.revision or '')[:12]}"
        hub_files._log(f"{info.hf_id} {split}: streaming {len(sf.files)} of {len(sf.listing)} files ({sf.sizes()})")
    else:
        raise DatasetUnavailableError(
            f"--streaming reads HF parquet datasets (the hub or a local HF copy); {name} is not one: drop --streaming"
        )
    images = index(info, split, files, sf.features, source, sf.repo_id)
    hub_files.check_count(sf, len(images.stream_labels))
    return images


class _Counted:
    """A read-only file that counts the bytes it hands out (with no read-ahead cache: the bytes transferred)."""

    def __init__(self, f) -> None:
        self._f, self.read_bytes = f, 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.read_bytes += len(data)
        return data

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


def _open(path: str) -> _Counted:
    """A file for pyarrow's ranged reads: hf:// without read-ahead (each read one HTTP Range request), or local."""
    if "://" not in path:
        return _Counted(open(path, "rb"))
    import fsspec

    fs, rel = fsspec.core.url_to_fs(path)
    return _Counted(fs.open(rel, "rb", block_size=INDEX_BLOCK, cache_type="none"))


def index(info, split: str, files: Sequence[str], features, source: str, repo_id: str | None = None) -> StreamedImageSet:
    """Read only the label and image-path columns of every file (parquet column projection), in sample order,
    and say how many bytes that read. A hub error reads as on the materialised path (one line naming the fix).

    Labels and names go through the materialised path's own `_from_hf`, so both paths agree on them.
    """
    try:
        return _index(info, split, files, features, source)
    except BenchError:
        raise
    except Exception as e:
        from .. import hub

        failure = hub.classify(e, repo_id or info.hf_id or source)
        if failure is None:
            bad = hub_files.corrupt_file(files)
            if bad is None:
                raise
            raise DatasetUnavailableError(f"{bad} is corrupt (not readable as parquet): delete it and fetch it again") from e
        raise DatasetUnavailableError(failure.message(f"could not stream {repo_id or source}") + ", or pass --data-dir") from e


def _index(info, split: str, files: Sequence[str], features, source: str) -> StreamedImageSet:
    import datasets as hfds
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.table import InMemoryTable

    from .datasets import _from_hf

    raw_labels: list[int | None] = []
    paths: list[str | None] = []
    image_col = label_col = None
    read = total = 0
    for path in files:
        with _open(path) as f:
            pf = pq.ParquetFile(f)
            if features is None:
                features = hfds.Features.from_arrow_schema(pf.schema_arrow)
            image_col = next((c for c, ft in features.items() if isinstance(ft, hfds.Image)), None)
            label_col = next((c for c, ft in features.items() if isinstance(ft, hfds.ClassLabel)), None)
            if image_col is None or label_col is None:
                raise DatasetUnavailableError(
                    f"{source}: expected an Image column and a ClassLabel column, found {dict(features)}"
                )
            table = pf.read(columns=[f"{image_col}.path", label_col])
            read += f.read_bytes
            total += f.size if isinstance(getattr(f, "size", None), int) else os.path.getsize(path)
        raw_labels += table.column(label_col).to_pylist()
        paths += [cell.get("path") if cell else None for cell in table.column(image_col).to_pylist()]
    assert image_col is not None and label_col is not None  # `files` is never empty (hub_files.choose refuses that)
    hub_files._log(
        f"{source}: indexed {len(raw_labels)} examples from the label and file-name columns, "
        f"reading {hub_files.human(read)} of {hub_files.human(total)}"
    )
    # the index as a tiny in-memory Dataset (paths only, no bytes) for the materialised path's `_from_hf`
    cells = pa.StructArray.from_arrays([pa.nulls(len(paths), pa.binary()), pa.array(paths, pa.string())], names=["bytes", "path"])
    table = pa.table({image_col: cells, label_col: pa.array(raw_labels, pa.int64())})
    small = hfds.Dataset(
        InMemoryTable(table),
        info=hfds.DatasetInfo(features=hfds.Features({image_col: features[image_col], label_col: features[label_col]})),
    )
    indexed = _from_hf(info, split, small, source)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))  # as torchrun sets them
    return StreamedImageSet(
        info.name,
        split,
        indexed.label_space,
        list(indexed.labels),
        source,
        list(files),
        features,
        image_col,
        label_col,
        list(indexed.ids()),
        list(range(len(raw_labels))),
        [-1 if y is None else int(y) for y in raw_labels],
        rank,
        world,
    )


# --- the data path ------------------------------------------------------------------------------------


def _guarded(images: StreamedImageSet) -> Iterator[dict]:
    """The stream's examples; a hub error while streaming reads as everywhere else (one line naming the fix)."""
    stream = iter(images.stream())
    while True:
        try:
            ex = next(stream)
        except StopIteration:
            return
        except BenchError:
            raise
        except Exception as e:
            from .. import hub

            failure = hub.classify(e, images.source)
            if failure is None:
                raise
            raise DatasetUnavailableError(failure.message(f"streaming {images.source} failed") + ", or pass --data-dir") from e
        yield ex


def _examples(images: StreamedImageSet, indices: Sequence[int]) -> Iterator[tuple[int, Any]]:
    """(sample index, image cell) for this rank's share of `indices`, in stream order; stops after the last one."""
    wanted = {images.origin[i]: i for i in indices}
    mine = {p: i for p, i in wanted.items() if p % images.world_size == images.rank}
    if not mine:
        return
    last = max(mine)
    for j, ex in enumerate(_guarded(images)):
        pos = images.rank + j * images.world_size
        if pos > last:
            break
        i = mine.get(pos)
        if i is None:
            continue
        label = ex[images.label_column]
        if (-1 if label is None else int(label)) != images.stream_labels[pos]:
            raise BenchError(
                f"{images.source}: the stream's sample {pos} has label {label}, the index says "
                f"{images.stream_labels[pos]}: the files changed while reading; rerun"
            )
        yield i, ex[images.hf_column]


def build(
    images: StreamedImageSet,
    indices: Sequence[int],
    ts,
    device: str,
    batch_size: int,
    workers: int | None = None,
    data_path: str = "auto",
):
    """A loaders.Pipeline over the stream: this rank's share of `indices`, batched in stream order.

    `indices` are ALL the samples to evaluate (not this rank's shard): the stream decides the shard.
    """
    from . import loaders, transforms
    from .datasets import SampleView, TorchView

    images._inflight.clear()  # a retry (out of memory) starts the stream over
    examples = _examples(images, indices)
    # `auto` is the faithful CPU path, as for a local set (loaders.choose): the key and run.data_path say so.
    path = loaders.choose(data_path, device, images)
    n_threads = loaders.default_workers(workers)
    everything = range(len(images))
    if path == "gpu":
        view: SampleView = loaders.RawView(images, everything)
        raw = _batches(images, view, examples, batch_size, n_threads, loaders.collate_raw)
        decoder = loaders.GpuDecoder(ts, device)
        return loaders.Pipeline(decoder.batches(raw), lambda x: x, "gpu", n_threads, decoder.resize_kernel)
    from torch.utils.data import default_collate

    view = TorchView(images, everything, transforms.build(ts, normalize=False), ts.input_size)
    return loaders.Pipeline(
        _batches(images, view, examples, batch_size, n_threads, default_collate), transforms.BatchNormalizer(ts), "cpu", n_threads
    )


def _batches(images: StreamedImageSet, view, examples: Iterator[tuple[int, Any]], batch_size: int, threads: int, collate):
    """Decode each batch's samples in a thread pool (`view[i]`: the loaders' own per-sample code), prefetching a little."""
    lock = threading.Lock()

    def chunks():
        while chunk := list(itertools.islice(examples, batch_size)):
            with lock:
                for i, cell in chunk:
                    images._inflight[i] = cell
            yield [i for i, _ in chunk]

    if threads <= 0:
        for chunk in chunks():
            yield collate([view[i] for i in chunk])
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque = deque()
        for chunk in chunks():
            pending.append([pool.submit(view.__getitem__, i) for i in chunk])
            if len(pending) > PREFETCH_BATCHES:
                yield collate([f.result() for f in pending.popleft()])
        while pending:
            yield collate([f.result() for f in pending.popleft()])
