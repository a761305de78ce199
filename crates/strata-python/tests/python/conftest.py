"""Shared fixtures for the strata package's tests (run by tests/pytest.rs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

# crates/strata-python/tests/python -> crates/strata/fixtures/spark: the Spark-written tables
# the Rust tests read too (see that directory's README for what each one is).
SPARK_FIXTURES = Path(__file__).resolve().parents[3] / "strata" / "fixtures" / "spark"


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A location for a new table."""
    return str(tmp_path / "table")


@pytest.fixture
def people() -> pa.Table:
    """Five rows over the common types, two countries for partitioning."""
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
            "name": pa.array(["ana", "bo", "cy", None, "ed"], pa.string()),
            "score": pa.array([1.5, 2.5, None, 4.0, 5.25], pa.float64()),
            "country": pa.array(["PT", "NL", "PT", "NL", "PT"], pa.string()),
        }
    )


def spark_fixture(name: str, tmp_path: Path | None = None) -> str:
    """The path of a Spark fixture table; a private copy under `tmp_path` when given."""
    source = SPARK_FIXTURES / name
    assert source.is_dir(), f"missing fixture {source}"
    if tmp_path is None:
        return str(source)
    copy = tmp_path / name
    shutil.copytree(source, copy)
    return str(copy)


def sorted_rows(table: pa.Table, by: str = "id") -> list[dict]:
    """The rows as dicts, ordered by `by` (reads return rows in file order)."""
    return table.sort_by(by).to_pylist()
