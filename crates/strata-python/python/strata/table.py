"""``strata.Table`` and ``strata.Snapshot``: the Python face of strata's Rust API.

Names follow the Rust API (``Table::snapshot_at_version`` is ``table.snapshot(version=)``,
``Table::restore_to_tag`` is ``table.restore(tag=)``, ...). Every long operation runs in
strata's Rust core with the GIL released. Data goes in and out through the Arrow PyCapsule
interface; see ``strata._arrow``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

from . import _strata
from ._arrow import RecordBatchStream, Schema, as_arrow_input, timestamp_ms
from ._progress import Progress, _reporter
from ._results import (
    DeleteResult,
    HistoryEntry,
    MergeResult,
    OptimizeResult,
    Tag,
    UndoResult,
    UpdateResult,
    VacuumReport,
    WriteResult,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import polars
    import pyarrow

__all__ = ["Snapshot", "Table", "TableMerger", "write_table"]

WriteMode = Literal["append", "overwrite"]
SchemaMode = Literal["merge", "overwrite"]


def _txn(txn: tuple[str, int] | None) -> tuple[str, int] | None:
    if txn is None:
        return None
    app_id, version = txn
    return (str(app_id), int(version))


def _metadata(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    return {str(k): str(v) for k, v in metadata.items()}


def _columns(columns: Sequence[str] | None) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        return [columns]
    return list(columns)


class Snapshot:
    """One version of a table: immutable, readable any number of times.

    Get one with :meth:`Table.snapshot` (latest, or by ``version``, ``timestamp`` or
    ``tag``).
    """

    def __init__(self, raw: _strata.RawSnapshot) -> None:
        self._raw = raw

    def __repr__(self) -> str:
        return f"Snapshot(version={self.version})"

    @property
    def version(self) -> int:
        """The version number."""
        return self._raw.version

    @property
    def timestamp(self) -> _dt.datetime:
        """When the version was committed (UTC)."""
        return _dt.datetime.fromtimestamp(self._raw.timestamp_ms / 1000, tz=_dt.timezone.utc)

    @property
    def partition_columns(self) -> list[str]:
        """The partition columns, in directory order."""
        return self._raw.partition_columns

    @property
    def properties(self) -> dict[str, str]:
        """The table properties (``delta.*`` and user-defined)."""
        return self._raw.properties

    @property
    def num_files(self) -> int:
        """Live data files."""
        return self._raw.num_files

    @property
    def name(self) -> str | None:
        """The table's name, if it has one."""
        return self._raw.name

    @property
    def description(self) -> str | None:
        """The table's description, if it has one."""
        return self._raw.description

    def schema(self) -> Schema:
        """The table schema as Arrow (``pyarrow.schema(snapshot.schema())`` converts it)."""
        return self._raw.schema()

    def txn_version(self, app_id: str) -> int | None:
        """The last version application ``app_id`` committed with ``txn=``, if any."""
        return self._raw.txn_version(app_id)

    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        batch_rows: int | None = None,
    ) -> RecordBatchStream:
        """Streams the rows, batch by batch, as they are read.

        Args:
            columns: the columns to read (all by default), in this order.
            filter: a SQL predicate, e.g. ``"country = 'PT' AND amount > 10"``; files and
                row groups that cannot match are skipped.
            limit: stop after this many rows.
            batch_rows: rows per batch at most.
        """
        return RecordBatchStream(self._raw.scan(_columns(columns), filter, limit, batch_rows))

    def to_arrow(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "pyarrow.Table":
        """The rows as a ``pyarrow.Table`` (needs pyarrow); see :meth:`scan` for the
        arguments. The read runs in parallel with the GIL released."""
        return RecordBatchStream(self._raw.read(_columns(columns), filter, limit)).read_all()

    def to_pandas(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "pandas.DataFrame":
        """The rows as a pandas DataFrame (needs pyarrow and pandas)."""
        return self.to_arrow(columns, filter, limit).to_pandas()

    def to_polars(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "polars.DataFrame":
        """The rows as a Polars DataFrame (needs only polars)."""
        return RecordBatchStream(self._raw.read(_columns(columns), filter, limit)).to_polars()

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """The commits up to this version, newest first, at most ``limit``."""
        return [HistoryEntry(**e) for e in self._raw.history(limit)]


class Table:
    """A Delta table at a location: a local path, ``file://``, ``memory://``, or (with the
    cloud features) ``s3://``, ``gs://``, ``az://`` URLs.

    ``Table(uri)`` opens an existing table (:class:`strata.TableNotFoundError` if there is
    none); :meth:`Table.create` and :func:`write_table` create one.

    >>> table = strata.Table("./lake/events")
    >>> table.to_arrow(filter="country = 'PT'")
    >>> table.snapshot(tag="train-2026-11").to_polars()
    """

    def __init__(self, uri: str, storage_options: Mapping[str, str] | None = None) -> None:
        self._raw = _strata.RawTable.open(str(uri), dict(storage_options or {}))
        self._storage_options = dict(storage_options or {})

    @classmethod
    def _wrap(cls, raw: _strata.RawTable, storage_options: Mapping[str, str] | None) -> Table:
        table = cls.__new__(cls)
        table._raw = raw
        table._storage_options = dict(storage_options or {})
        return table

    @classmethod
    def create(
        cls,
        uri: str,
        schema: Any,
        *,
        partition_by: Sequence[str] | None = None,
        properties: Mapping[str, str] | None = None,
        name: str | None = None,
        description: str | None = None,
        storage_options: Mapping[str, str] | None = None,
    ) -> Table:
        """Creates an empty table (version 0) with ``schema``: anything with
        ``__arrow_c_schema__``, e.g. a ``pyarrow.Schema``. Raises
        :class:`strata.TableExistsError` when a table is there. To create a table from
        data in one commit, use :func:`write_table`.

        Args:
            partition_by: partition columns, in directory order.
            properties: table properties, e.g. ``{"delta.enableDeletionVectors": "true"}``.
            name: the table's name.
            description: the table's description.
        """
        raw = _strata.RawTable.create(
            str(uri),
            schema,
            _columns(partition_by),
            dict(properties or {}),
            name,
            description,
            dict(storage_options or {}),
        )
        return cls._wrap(raw, storage_options)

    def __repr__(self) -> str:
        return f"Table({self.location!r})"

    @property
    def location(self) -> str:
        """The table's location, as a URL."""
        return self._raw.location

    # --- Reading ------------------------------------------------------------------------

    def version(self) -> int:
        """The latest version (refreshed from storage)."""
        return self._raw.version()

    def snapshot(
        self,
        version: int | None = None,
        *,
        timestamp: _dt.datetime | str | int | float | None = None,
        tag: str | None = None,
    ) -> Snapshot:
        """The latest version, or the one given by ``version``, ``timestamp`` (the latest
        commit at or before it: a datetime, naive meaning UTC; an ISO 8601 string; or
        seconds since the epoch) or ``tag``. At most one of them."""
        ms = None if timestamp is None else timestamp_ms(timestamp)
        return Snapshot(self._raw.snapshot(version, ms, tag))

    def schema(self) -> Schema:
        """The latest schema as Arrow."""
        return self.snapshot().schema()

    def scan(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
        batch_rows: int | None = None,
    ) -> RecordBatchStream:
        """Streams the latest version's rows (see :meth:`Snapshot.scan`)."""
        return self.snapshot().scan(columns, filter, limit, batch_rows)

    def to_arrow(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "pyarrow.Table":
        """The latest version's rows as a ``pyarrow.Table`` (see :meth:`Snapshot.scan`)."""
        return self.snapshot().to_arrow(columns, filter, limit)

    def to_pandas(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "pandas.DataFrame":
        """The latest version's rows as a pandas DataFrame."""
        return self.snapshot().to_pandas(columns, filter, limit)

    def to_polars(
        self,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
        limit: int | None = None,
    ) -> "polars.DataFrame":
        """The latest version's rows as a Polars DataFrame."""
        return self.snapshot().to_polars(columns, filter, limit)

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """The commits, newest first, at most ``limit``."""
        return [HistoryEntry(**e) for e in self._raw.history(limit)]

    def changes(
        self,
        start: int | None = None,
        end: int | None = None,
        *,
        columns: Sequence[str] | None = None,
        filter: str | None = None,
    ) -> RecordBatchStream:
        """The change data feed from version ``start`` (0 by default) to ``end`` (the latest
        by default), inclusive: each changed row with ``_change_type``, ``_commit_version``
        and ``_commit_timestamp``. Needs ``delta.enableChangeDataFeed`` on those versions
        (appends-only ranges are derived from the log)."""
        return RecordBatchStream(self._raw.changes(start, end, _columns(columns), filter))

    # --- Writing ------------------------------------------------------------------------

    def write(
        self,
        data: Any,
        mode: WriteMode = "append",
        *,
        txn: tuple[str, int] | None = None,
        schema_mode: SchemaMode | None = None,
        commit_metadata: Mapping[str, Any] | None = None,
        target_file_size: int | None = None,
        expected_version: int | None = None,
    ) -> WriteResult:
        """Writes ``data`` in one commit, streaming it.

        Args:
            data: anything with ``__arrow_c_stream__`` or ``__arrow_c_array__`` (a pyarrow
                Table, RecordBatch or RecordBatchReader, a Polars DataFrame, ...) or a
                pandas DataFrame.
            mode: ``"append"``, or ``"overwrite"`` to replace every row.
            txn: ``(app_id, version)``: an idempotent write, skipped
                (``already_applied``) when the table already holds that version or a later
                one for ``app_id``.
            schema_mode: ``"merge"`` adds the data's new columns; ``"overwrite"`` (with
                ``mode="overwrite"``) replaces the schema.
            commit_metadata: extra ``commitInfo`` fields.
            target_file_size: bytes per data file, about.
            expected_version: commit only right after this version (a read-modify-write
                job's guard): when the table has moved on, nothing is written and
                :class:`strata.ConflictError` says so (``reason_kind="version_moved"``).
        """
        result = self._raw.write(
            as_arrow_input(data),
            mode,
            _txn(txn),
            schema_mode,
            _metadata(commit_metadata),
            target_file_size,
            expected_version,
        )
        return WriteResult(**result)

    def append(self, data: Any, *, txn: tuple[str, int] | None = None) -> WriteResult:
        """Appends ``data`` in one commit (see :meth:`write`)."""
        return self.write(data, "append", txn=txn)

    def overwrite(self, data: Any, *, txn: tuple[str, int] | None = None) -> WriteResult:
        """Replaces every row with ``data`` in one commit (see :meth:`write`)."""
        return self.write(data, "overwrite", txn=txn)

    def delete(self, predicate: str | None = None, *, progress: Progress = None) -> DeleteResult:
        """Deletes the rows the SQL ``predicate`` matches (every row without one), in one
        commit. ``progress``: a callable ``progress(done, total)`` (in files), called from
        strata's threads, or ``True`` for a tqdm bar."""
        with _reporter(progress, "delete", "files") as report:
            return DeleteResult(**self._raw.delete(predicate, report))

    def update(
        self, set: Mapping[str, str], predicate: str | None = None, *, progress: Progress = None
    ) -> UpdateResult:
        """Sets ``column = expression`` for each item of ``set`` (SQL expressions over the
        row, e.g. ``{"amount": "abs(amount)", "note": "'fixed'"}``) on the rows the SQL
        ``predicate`` matches (every row without one), in one commit. ``progress``: as for
        :meth:`delete`."""
        if not set:
            raise _strata_invalid("update needs at least one column to set")
        pairs = [(str(k), str(v)) for k, v in set.items()]
        with _reporter(progress, "update", "files") as report:
            return UpdateResult(**self._raw.update(pairs, predicate, report))

    def merge(
        self,
        source: Any,
        on: str,
        *,
        source_alias: str = "source",
        target_alias: str = "target",
        schema_mode: Literal["merge"] | None = None,
        txn: tuple[str, int] | None = None,
        commit_metadata: Mapping[str, Any] | None = None,
    ) -> TableMerger:
        """Starts a merge of ``source`` (Arrow data, as :meth:`write` takes) into the table
        on the SQL condition ``on``, which names the sides by their aliases and needs an
        equality between a target and a source column. Add clauses, then ``execute()``:

        >>> (table.merge(changes, "t.id = s.id", source_alias="s", target_alias="t")
        ...     .when_matched_update_all()
        ...     .when_not_matched_insert_all()
        ...     .execute())
        """
        return TableMerger(
            self,
            as_arrow_input(source),
            on,
            source_alias=source_alias,
            target_alias=target_alias,
            schema_mode=schema_mode,
            txn=txn,
            commit_metadata=commit_metadata,
        )

    def set_properties(self, properties: Mapping[str, str]) -> int:
        """Sets table properties in one commit (upgrading the protocol where a property
        needs a feature); returns the version."""
        return self._raw.set_properties({str(k): str(v) for k, v in properties.items()})

    # --- Undoing and naming versions ----------------------------------------------------

    def restore(
        self,
        version: int | None = None,
        *,
        timestamp: _dt.datetime | str | int | float | None = None,
        tag: str | None = None,
    ) -> UndoResult:
        """Makes the table's rows, schema and properties those of ``version`` (or of the
        version at ``timestamp``, or the one ``tag`` names) again, in a new commit. Later
        versions stay readable."""
        ms = None if timestamp is None else timestamp_ms(timestamp)
        return UndoResult(**self._raw.restore(version, ms, tag))

    def revert(self, version: int) -> UndoResult:
        """Undoes commit ``version`` and keeps every commit after it, in a new commit;
        refused (:class:`strata.NotAllowedError`) when a later commit touched the same
        files or changed the schema."""
        return UndoResult(**self._raw.revert(version))

    def tag(self, name: str, version: int | None = None) -> bool:
        """Names ``version`` (the latest by default) ``name``. Returns ``False`` when the tag
        already names that version; a name on another version is refused. Tagged versions
        are kept by vacuum."""
        if version is None:
            version = self.version()
        return self._raw.tag(name, version)

    def delete_tag(self, name: str) -> Tag:
        """Deletes a tag; returns what it named."""
        return Tag(**self._raw.delete_tag(name))

    def tags(self) -> dict[str, Tag]:
        """The tags, by name."""
        return {name: Tag(**t) for name, t in self._raw.tags().items()}

    # --- Maintenance --------------------------------------------------------------------

    def vacuum(
        self,
        retention_hours: float | None = None,
        *,
        dry_run: bool = False,
        force: bool = False,
        progress: Progress = None,
    ) -> VacuumReport:
        """Deletes data files that no version within the retention (the table's
        ``delta.deletedFileRetentionDuration``, 7 days by default, or ``retention_hours``)
        and no tagged version reads. A retention below the table's needs ``force=True``;
        ``dry_run=True`` only lists the files. ``progress``: as for :meth:`delete` (in files
        deleted)."""
        retention_ms = None if retention_hours is None else int(retention_hours * 3_600_000)
        with _reporter(progress, "vacuum", "files") as report:
            return VacuumReport(**self._raw.vacuum(retention_ms, dry_run, force, report))

    def optimize(
        self,
        *,
        target_size: int | None = None,
        filter: str | None = None,
        zorder: Sequence[str] | None = None,
        progress: Progress = None,
    ) -> OptimizeResult:
        """Compacts small files into files of about ``target_size`` bytes, where the SQL
        ``filter`` over partition columns matches (everywhere by default); with ``zorder``,
        rewrites each partition ordered along a Z-order curve over those columns.
        ``progress``: as for :meth:`delete` (in bytes rewritten)."""
        with _reporter(progress, "optimize", "B") as report:
            return OptimizeResult(
                **self._raw.optimize(target_size, filter, _columns(zorder), report)
            )


class TableMerger:
    """A merge being built: :meth:`Table.merge` starts it, ``when_*`` methods add clauses
    (tried in order within each group), :meth:`execute` runs it in one commit.

    Conditions and values are SQL over the columns the clause sees, qualified by the
    aliases: matched clauses see the target and the source, ``not_matched`` ones only the
    source, ``not_matched_by_source`` ones only the target.
    """

    def __init__(
        self,
        table: Table,
        source: Any,
        on: str,
        *,
        source_alias: str,
        target_alias: str,
        schema_mode: str | None,
        txn: tuple[str, int] | None,
        commit_metadata: Mapping[str, Any] | None,
    ) -> None:
        self._table = table
        self._source = source
        self._on = on
        self._source_alias = source_alias
        self._target_alias = target_alias
        self._schema_mode = schema_mode
        self._txn = _txn(txn)
        self._commit_metadata = _metadata(commit_metadata)
        self._clauses: list[tuple[str, str | None, list[tuple[str, str]] | None]] = []
        self._executed = False

    def _add(
        self, kind: str, predicate: str | None, assignments: Mapping[str, str] | None
    ) -> TableMerger:
        pairs = None
        if assignments is not None:
            if not assignments:
                raise _strata_invalid(f"{kind}: give at least one column, or use the *_all form")
            pairs = [(str(k), str(v)) for k, v in assignments.items()]
        self._clauses.append((kind, predicate, pairs))
        return self

    def when_matched_update(
        self, updates: Mapping[str, str], predicate: str | None = None
    ) -> TableMerger:
        """``WHEN MATCHED [AND predicate] THEN UPDATE SET column = expression, ...``."""
        return self._add("matched_update", predicate, updates)

    def when_matched_update_all(self, predicate: str | None = None) -> TableMerger:
        """``WHEN MATCHED [AND predicate] THEN UPDATE SET *``: every target column from the
        source column of the same name."""
        return self._add("matched_update", predicate, None)

    def when_matched_delete(self, predicate: str | None = None) -> TableMerger:
        """``WHEN MATCHED [AND predicate] THEN DELETE``."""
        return self._add("matched_delete", predicate, None)

    def when_not_matched_insert(
        self, values: Mapping[str, str], predicate: str | None = None
    ) -> TableMerger:
        """``WHEN NOT MATCHED [AND predicate] THEN INSERT``: ``values`` maps target columns
        to expressions over the source; columns not given are null."""
        return self._add("not_matched_insert", predicate, values)

    def when_not_matched_insert_all(self, predicate: str | None = None) -> TableMerger:
        """``WHEN NOT MATCHED [AND predicate] THEN INSERT *``."""
        return self._add("not_matched_insert", predicate, None)

    def when_not_matched_by_source_update(
        self, updates: Mapping[str, str], predicate: str | None = None
    ) -> TableMerger:
        """``WHEN NOT MATCHED BY SOURCE [AND predicate] THEN UPDATE SET ...``."""
        return self._add("not_matched_by_source_update", predicate, updates)

    def when_not_matched_by_source_delete(self, predicate: str | None = None) -> TableMerger:
        """``WHEN NOT MATCHED BY SOURCE [AND predicate] THEN DELETE``."""
        return self._add("not_matched_by_source_delete", predicate, None)

    def execute(self) -> MergeResult:
        """Runs the merge and commits. A merger runs once (its source is consumed)."""
        if self._executed:
            raise _strata_invalid("this merge was already executed; start a new one")
        self._executed = True
        result = self._table._raw.merge(
            self._source,
            self._on,
            self._clauses,
            self._target_alias,
            self._source_alias,
            self._schema_mode,
            self._txn,
            self._commit_metadata,
        )
        return MergeResult(**result)


def write_table(
    uri: str,
    data: Any,
    *,
    mode: Literal["error", "append", "overwrite", "ignore"] = "error",
    partition_by: Sequence[str] | None = None,
    properties: Mapping[str, str] | None = None,
    name: str | None = None,
    description: str | None = None,
    storage_options: Mapping[str, str] | None = None,
    txn: tuple[str, int] | None = None,
    schema_mode: SchemaMode | None = None,
    commit_metadata: Mapping[str, Any] | None = None,
    target_file_size: int | None = None,
) -> Table:
    """Writes ``data`` to the table at ``uri``, creating the table from the data's schema
    when there is none (in the same commit, so a failed input leaves no empty table), as
    ``deltalake.write_deltalake`` does. Returns the table.

    Args:
        mode: what to do when a table is already there: ``"error"`` (the default) raises
            :class:`strata.TableExistsError`, ``"ignore"`` writes nothing, ``"append"``
            adds the rows, ``"overwrite"`` replaces them.

    ``partition_by``, ``properties``, ``name`` and ``description`` apply when the table is
    created; see :meth:`Table.write` for the rest.
    """
    if mode not in ("error", "append", "overwrite", "ignore"):
        raise _strata_invalid(
            f'mode must be "error", "append", "overwrite" or "ignore", not {mode!r}'
        )
    if mode in ("error", "ignore"):
        try:
            existing = Table(uri, storage_options)
        except _not_found():
            pass
        else:
            if mode == "ignore":
                return existing
            raise _exists(existing)
    raw, _result = _strata.RawTable.write_to(
        str(uri),
        as_arrow_input(data),
        "overwrite" if mode == "overwrite" else "append",
        _columns(partition_by),
        dict(properties or {}),
        name,
        description,
        dict(storage_options or {}),
        _txn(txn),
        schema_mode,
        _metadata(commit_metadata),
        target_file_size,
    )
    return Table._wrap(raw, storage_options)


def _strata_invalid(message: str) -> Exception:
    from .exceptions import InvalidArgumentError

    return InvalidArgumentError(message, kind="InvalidArgument")


def _not_found() -> type[Exception]:
    from .exceptions import TableNotFoundError

    return TableNotFoundError


def _exists(table: Table) -> Exception:
    from .exceptions import TableExistsError

    version = table.version()
    return TableExistsError(
        f"a Delta table already exists at {table.location} (version {version}); "
        'write with mode="append" or "overwrite", or open it with strata.Table',
        kind="TableExists",
        location=table.location,
        version=version,
    )
