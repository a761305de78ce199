"""strata: ACID tables on the Delta Lake protocol, from Python.

    >>> import strata
    >>> table = strata.write_table("./lake/events", pyarrow_table, partition_by=["country"])
    >>> table.append(polars_frame, txn=("nightly", 42))     # idempotent
    >>> table.tag("train-2026-11")
    >>> strata.Table("./lake/events").snapshot(tag="train-2026-11").to_pandas()

Data goes in and out through the Arrow PyCapsule interface (``__arrow_c_stream__``), so
pyarrow, Polars, DuckDB and pandas all work and none of them is required. Every error is a
:class:`StrataError` subclass with the error's fields as attributes.
"""

from . import exceptions, training
from ._arrow import RecordBatchStream, Schema
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
from ._strata import __version__
from .exceptions import *  # noqa: F403  (every exception at the top level: strata.ConflictError)
from .table import Snapshot, Table, TableMerger, write_table

__all__ = [
    "__version__",
    "DeleteResult",
    "HistoryEntry",
    "MergeResult",
    "OptimizeResult",
    "RecordBatchStream",
    "Schema",
    "Snapshot",
    "Table",
    "TableMerger",
    "Tag",
    "UndoResult",
    "UpdateResult",
    "VacuumReport",
    "WriteResult",
    "exceptions",
    "training",
    "write_table",
    *exceptions.__all__,
]
