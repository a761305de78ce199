"""Deterministic, shardable, resumable training reads of one table version.

    >>> ds = strata.training.Dataset(table.snapshot(tag="train-2026-11"), columns=["x", "y"])
    >>> ds = ds.shuffle(seed=7).shard(rank, world_size)
    >>> for batch in ds.batches(1024):          # pyarrow RecordBatches
    ...     train_step(batch)
    ...     checkpoint["data"] = ds.state()     # after each batch
    >>> ds = ds.resume(checkpoint["data"])      # later: continues after the last batch

How it reads:

- The version is fixed when the dataset is made (a table's latest version then, or the
  snapshot given), so every epoch, rank and restart reads the same rows.
- The unit of work is a *chunk*: a data file, or a part of one. A file of ``size`` bytes is
  cut into ``ceil(size / chunk_bytes)`` chunks; chunk ``i`` of ``k`` holds the file's rows
  ``[i*n//k, (i+1)*n//k)`` of the ``n`` rows it has after deletion vectors and the filter.
  Chunks of every file, taken together, hold every row exactly once.
- ``shard(rank, world_size)`` takes chunks ``rank, rank + world_size, ...`` of the (shuffled)
  chunk order: shards are disjoint and together cover the table.
- ``shuffle(seed)`` shuffles the chunk order per epoch and the rows within a buffer of
  ``buffer_rows`` rows, with Python's ``random.Random`` seeded by ``(seed, epoch)``; the
  same seed, version and shard give the same batches, byte for byte, on any machine.
- ``state()`` is where the iteration is (epoch and batches yielded); ``resume(state)``
  continues after that batch, without repeating or skipping a row. Resuming replays the
  epoch's reads up to that point (without yielding them), so it costs a partial read.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from .table import Snapshot, Table, _columns

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

__all__ = ["Dataset"]

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
DEFAULT_BUFFER_ROWS = 65_536


@dataclass(frozen=True)
class _Config:
    columns: list[str] | None
    filter: str | None
    seed: int | None = None
    buffer_rows: int = DEFAULT_BUFFER_ROWS
    rank: int = 0
    world_size: int = 1
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    epoch: int = 0
    skip_batches: int = 0


@dataclass(frozen=True)
class _Chunk:
    path: str
    index: int
    count: int


class Dataset:
    """The rows of one table version, for a training loop: see the module documentation.

    Args:
        source: a :class:`strata.Table` (its latest version, fixed now) or a
            :class:`strata.Snapshot`.
        columns: the columns to read (all by default).
        filter: a SQL predicate on the rows to read.
    """

    def __init__(
        self,
        source: Table | Snapshot,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
    ) -> None:
        self._snapshot = source.snapshot() if isinstance(source, Table) else source
        if not isinstance(self._snapshot, Snapshot):
            raise TypeError(f"Dataset reads a strata Table or Snapshot, not {type(source).__name__}")
        self._config = _Config(columns=_columns(columns), filter=filter)
        self._batches_yielded = 0

    def _with(self, **changes: Any) -> Dataset:
        """A copy with `changes`; only `resume` keeps batches to skip."""
        changes.setdefault("skip_batches", 0)
        ds = Dataset.__new__(Dataset)
        ds._snapshot = self._snapshot
        ds._config = replace(self._config, **changes)
        ds._batches_yielded = 0
        return ds

    def __repr__(self) -> str:
        c = self._config
        return (
            f"Dataset(version={self.version}, seed={c.seed}, rank={c.rank}, "
            f"world_size={c.world_size}, epoch={c.epoch})"
        )

    @property
    def version(self) -> int:
        """The table version read."""
        return self._snapshot.version

    @property
    def epoch(self) -> int:
        """The epoch the chunk order and row shuffle are drawn for."""
        return self._config.epoch

    def shuffle(self, seed: int, buffer_rows: int = DEFAULT_BUFFER_ROWS) -> Dataset:
        """A dataset reading chunks in an order drawn from ``seed`` (and the epoch), and rows
        shuffled within buffers of ``buffer_rows`` rows."""
        if buffer_rows < 1:
            raise ValueError("buffer_rows must be at least 1")
        return self._with(seed=int(seed), buffer_rows=int(buffer_rows))

    def shard(self, rank: int, world_size: int) -> Dataset:
        """The part of the dataset that worker ``rank`` of ``world_size`` reads: disjoint
        from the others' and, with theirs, covering every row."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        return self._with(rank=int(rank), world_size=int(world_size))

    def with_chunk_bytes(self, chunk_bytes: int) -> Dataset:
        """A dataset cutting files into chunks of about ``chunk_bytes`` bytes (32 MiB by
        default): smaller chunks balance shards better on tables of few large files."""
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be at least 1")
        return self._with(chunk_bytes=int(chunk_bytes))

    def set_epoch(self, epoch: int) -> Dataset:
        """The same dataset for epoch ``epoch`` (another chunk order and row shuffle)."""
        return self._with(epoch=int(epoch))

    def state(self) -> dict[str, Any]:
        """Where the iteration of :meth:`batches` is: pass it to :meth:`resume` to continue
        after the last batch yielded. A plain dict, JSON-serializable."""
        c = self._config
        return {
            "version": self.version,
            "columns": c.columns,
            "filter": c.filter,
            "seed": c.seed,
            "buffer_rows": c.buffer_rows,
            "rank": c.rank,
            "world_size": c.world_size,
            "chunk_bytes": c.chunk_bytes,
            "epoch": c.epoch,
            "batches": c.skip_batches + self._batches_yielded,
        }

    def resume(self, state: dict[str, Any]) -> Dataset:
        """The dataset continuing from ``state`` (from :meth:`state`): its next batch is the
        one after the last batch yielded when the state was taken. The state must come from
        a dataset over the same version with the same columns, filter and chunking."""
        if state.get("version") != self.version:
            raise ValueError(
                f"the state is of version {state.get('version')}, this dataset reads {self.version}"
            )
        for key in ("columns", "filter", "chunk_bytes"):
            if state.get(key) != getattr(self._config, key):
                raise ValueError(f"the state's {key} ({state.get(key)!r}) differs from this dataset's")
        return self._with(
            seed=state["seed"],
            buffer_rows=state["buffer_rows"],
            rank=state["rank"],
            world_size=state["world_size"],
            epoch=state["epoch"],
            skip_batches=state["batches"],
        )

    def _rng(self) -> random.Random | None:
        c = self._config
        if c.seed is None:
            return None
        return random.Random(f"strata:{c.seed}:{c.epoch}")

    def chunks(self) -> list[tuple[str, int, int]]:
        """This shard's chunks in reading order, as ``(file, index, count)``."""
        return [(c.path, c.index, c.count) for c in self._chunks(self._rng())]

    def _chunks(self, rng: random.Random | None) -> list[_Chunk]:
        c = self._config
        files = self._snapshot._raw.plan_files(c.columns, c.filter)
        chunks = [
            _Chunk(path, i, count)
            for path, size in sorted(files)
            for count in [max(1, math.ceil(size / c.chunk_bytes))]
            for i in range(count)
        ]
        if rng is not None:
            rng.shuffle(chunks)
        return chunks[c.rank :: c.world_size]

    def _rows(self, chunks: list[_Chunk]) -> Iterator["pyarrow.Table"]:
        """Each chunk's rows, in order; a file is read once for its consecutive chunks."""
        import pyarrow as pa

        c = self._config
        i = 0
        while i < len(chunks):
            j = i
            while j + 1 < len(chunks) and chunks[j + 1].path == chunks[i].path:
                j += 1
            stream = self._snapshot._raw.read_files([chunks[i].path], c.columns, c.filter)
            rows = pa.RecordBatchReader.from_stream(stream).read_all()
            n = rows.num_rows
            for chunk in chunks[i : j + 1]:
                start, stop = chunk.index * n // chunk.count, (chunk.index + 1) * n // chunk.count
                yield rows.slice(start, stop - start)
            i = j + 1

    def batches(self, batch_size: int, drop_last: bool = False) -> Iterator["pyarrow.RecordBatch"]:
        """This shard's rows in batches of ``batch_size`` rows (the last one smaller unless
        ``drop_last``), as ``pyarrow.RecordBatch`` objects. :meth:`state` tracks the
        iteration."""
        import pyarrow as pa

        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        c = self._config
        rng = self._rng()
        chunks = self._chunks(rng)
        to_skip = c.skip_batches
        self._batches_yielded = 0
        buffer_rows = c.buffer_rows if rng is not None else batch_size
        pending: list[pa.Table] = []
        pending_rows = 0

        def emit(table: pa.Table) -> Iterator[pa.RecordBatch]:
            nonlocal to_skip
            for offset in range(0, table.num_rows, batch_size):
                part = table.slice(offset, batch_size)
                if part.num_rows < batch_size and drop_last:
                    return
                if to_skip > 0:
                    to_skip -= 1
                    continue
                self._batches_yielded += 1
                yield part.combine_chunks().to_batches()[0]

        def flush(final: bool) -> Iterator[pa.RecordBatch]:
            nonlocal pending, pending_rows
            if not pending:
                return
            table = pa.concat_tables(pending).combine_chunks()
            if rng is not None:
                order = list(range(table.num_rows))
                rng.shuffle(order)
                table = table.take(pa.array(order, pa.int64()))
            whole = table.num_rows if final else table.num_rows // batch_size * batch_size
            yield from emit(table.slice(0, whole))
            rest = table.slice(whole)
            pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)

        for rows in self._rows(chunks):
            if rows.num_rows == 0:
                continue
            pending.append(rows)
            pending_rows += rows.num_rows
            if pending_rows >= buffer_rows:
                yield from flush(final=False)
        yield from flush(final=True)
