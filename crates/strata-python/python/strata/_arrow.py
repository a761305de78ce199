"""Arrow data in and out: input conversion, and the stream strata's reads return.

strata itself needs no Arrow library: data comes in through the Arrow PyCapsule interface
(``__arrow_c_stream__`` / ``__arrow_c_array__``, which pyarrow, Polars, DuckDB and
nanoarrow objects have) and goes out the same way. pyarrow is imported only to build a
``pyarrow.Table`` (``to_arrow``) or to convert a pandas DataFrame; pandas and Polars only by
``to_pandas`` and ``to_polars``.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, Iterator

from . import _strata

if TYPE_CHECKING:  # pragma: no cover
    import pandas
    import polars
    import pyarrow

Schema = _strata.ArrowSchema


def _import(module: str, purpose: str) -> Any:
    try:
        return __import__(module)
    except ImportError as e:  # pragma: no cover - exercised only without the package
        raise ImportError(f"{purpose} needs {module}: pip install {module}") from e


def as_arrow_input(data: Any) -> Any:
    """Anything strata can write: an object with ``__arrow_c_stream__`` or
    ``__arrow_c_array__`` as is; a pandas DataFrame through pyarrow (without its index)."""
    if hasattr(data, "__arrow_c_stream__") and not _is_pandas(data):
        return data
    if hasattr(data, "__arrow_c_array__"):
        return data
    if _is_pandas(data):
        pa = _import("pyarrow", "writing a pandas DataFrame")
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        "strata writes Arrow data: an object with __arrow_c_stream__ or __arrow_c_array__ "
        "(a pyarrow Table, RecordBatch or RecordBatchReader, a Polars DataFrame, a DuckDB "
        f"relation) or a pandas DataFrame, not {type(data).__name__}"
    )


def _is_pandas(data: Any) -> bool:
    module = type(data).__module__ or ""
    return module.startswith("pandas") and type(data).__name__ == "DataFrame"


def timestamp_ms(timestamp: _dt.datetime | str | int | float) -> int:
    """Milliseconds since the epoch of a datetime (naive means UTC), an ISO 8601 string, or
    a number of seconds since the epoch."""
    if isinstance(timestamp, str):
        text = timestamp.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        timestamp = _dt.datetime.fromisoformat(text)
    if isinstance(timestamp, _dt.datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=_dt.timezone.utc)
        return int(timestamp.timestamp() * 1000)
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
        return int(timestamp * 1000)
    raise TypeError(
        f"a timestamp is a datetime, an ISO 8601 string or seconds since the epoch, "
        f"not {type(timestamp).__name__}"
    )


class RecordBatchStream:
    """A stream of record batches (a scan or a change feed), read as it is consumed.

    It implements ``__arrow_c_stream__``, so ``pyarrow.table(stream)``,
    ``polars.DataFrame(stream)`` or DuckDB read it without copies; iterating yields
    ``pyarrow.RecordBatch`` objects (or, without pyarrow, strata ``ArrowBatch`` objects
    with ``__arrow_c_array__``). A stream is consumed once.
    """

    def __init__(self, raw: _strata.ArrowStream) -> None:
        self._raw = raw

    @property
    def schema(self) -> Schema:
        """The schema of the batches (``pyarrow.schema(stream.schema)`` converts it)."""
        return self._raw.schema

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Hands the rest of the stream over as an Arrow C stream PyCapsule."""
        return self._raw.__arrow_c_stream__(requested_schema)

    def __iter__(self) -> Iterator[Any]:
        try:
            import pyarrow as pa
        except ImportError:
            pa = None
        while True:
            batch = self._raw.read_next()
            if batch is None:
                return
            yield pa.record_batch(batch) if pa is not None else batch

    def read_all(self) -> "pyarrow.Table":
        """The rest of the stream as a ``pyarrow.Table`` (needs pyarrow)."""
        pa = _import("pyarrow", "read_all()")
        return pa.RecordBatchReader.from_stream(self).read_all()

    to_arrow = read_all

    def to_pandas(self, **kwargs: Any) -> "pandas.DataFrame":
        """The rest of the stream as a pandas DataFrame (needs pyarrow and pandas);
        ``kwargs`` go to ``pyarrow.Table.to_pandas``."""
        _import("pandas", "to_pandas()")
        return self.read_all().to_pandas(**kwargs)

    def to_polars(self) -> "polars.DataFrame":
        """The rest of the stream as a Polars DataFrame (needs only polars)."""
        pl = _import("polars", "to_polars()")
        return pl.DataFrame(self)
