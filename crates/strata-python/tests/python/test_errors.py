"""Every Rust error arrives as a typed exception with its fields."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import strata
from conftest import spark_fixture


def ints(*values: int) -> pa.Table:
    return pa.table({"id": pa.array(values, pa.int64())})


def test_no_table(tmp_path):
    with pytest.raises(strata.TableNotFoundError) as e:
        strata.Table(str(tmp_path / "nothing"))
    err = e.value
    assert isinstance(err, strata.StrataError)
    assert err.kind == "NotATable"
    assert err.location.endswith("nothing") or "nothing" in err.location
    assert "no Delta table" in str(err)


def test_table_exists(uri):
    strata.write_table(uri, ints(1))
    with pytest.raises(strata.TableExistsError) as e:
        strata.Table.create(uri, ints(1).schema)
    assert e.value.kind == "TableExists"
    assert e.value.version == 0
    assert "already exists" in str(e.value)


def test_version_not_found(uri):
    table = strata.write_table(uri, ints(1))
    table.append(ints(2))
    with pytest.raises(strata.VersionNotFoundError) as e:
        table.snapshot(9)
    err = e.value
    assert (err.version, err.earliest, err.latest) == (9, 0, 1)
    assert isinstance(err, LookupError)
    assert err.kind == "VersionNotFound"


def test_schema_mismatch(uri):
    table = strata.write_table(uri, ints(1))
    with pytest.raises(strata.SchemaMismatchError) as e:
        table.append(pa.table({"id": ["not a number"]}))
    err = e.value
    assert isinstance(err.problems, list) and err.problems
    assert any("id" in p for p in err.problems)
    assert err.location == table.location
    assert isinstance(err, ValueError)
    assert table.version() == 0


def test_constraint_violation(uri):
    table = strata.write_table(
        uri, ints(1, 2), properties={"delta.constraints.positive_id": "id > 0"}
    )
    with pytest.raises(strata.ConstraintViolationError) as e:
        table.append(ints(3, -1, -2))
    err = e.value
    assert err.kind == "ConstraintViolation"
    assert err.operation == "write"
    assert "positive_id" in err.constraint
    assert err.expression == "id > 0"
    assert err.violations == 2
    assert "-1" in err.sample
    assert table.to_arrow().num_rows == 2


def test_conflict_when_the_table_moved_past_the_expected_version(uri):
    table = strata.write_table(uri, ints(1))
    read_at = table.version()
    strata.Table(uri).append(ints(2))  # another writer gets in first
    with pytest.raises(strata.ConflictError) as e:
        table.write(ints(3), expected_version=read_at)
    err = e.value
    assert err.kind == "Conflict"
    assert err.reason_kind == "version_moved"
    assert err.expected_version == read_at
    assert err.version == 1
    assert err.location == table.location
    assert "moved past version 0" in err.reason
    assert sorted(table.to_arrow()["id"].to_pylist()) == [1, 2]
    assert table.write(ints(3), expected_version=1).version == 2


def test_bad_predicate(uri):
    table = strata.write_table(uri, ints(1))
    with pytest.raises(strata.PredicateError) as e:
        table.to_arrow(filter="id >>> 3")
    assert e.value.kind == "Predicate"
    with pytest.raises(strata.PredicateError):
        table.delete("no_such_column = 1")


def test_not_allowed(uri):
    table = strata.write_table(uri, ints(1), properties={"delta.appendOnly": "true"})
    with pytest.raises(strata.NotAllowedError) as e:
        table.delete("id = 1")
    err = e.value
    assert err.location == table.location
    assert "appendOnly" in err.reason
    assert err.operation


def test_invalid_arguments(uri):
    table = strata.write_table(uri, ints(1))
    with pytest.raises(strata.InvalidArgumentError):
        table.write(ints(2), mode="upsert")
    with pytest.raises(strata.InvalidArgumentError):
        table.write(ints(2), schema_mode="magic")
    with pytest.raises(strata.InvalidArgumentError):
        table.snapshot(tag="no-such-tag")


def test_evaluation_error(uri):
    table = strata.write_table(uri, ints(1, 0))
    with pytest.raises(strata.EvaluationError) as e:
        table.update({"id": "10 / id"})
    err = e.value
    assert err.operation == "update"
    assert err.detail
    assert err.file.endswith(".parquet")
    assert table.version() == 0


def test_errors_raised_while_streaming_keep_their_type(tmp_path):
    """A corrupt deletion vector found mid-scan is a CorruptTableError naming the files."""
    path = spark_fixture("with-short-dv", tmp_path)
    table = strata.Table(path)
    assert table.to_arrow().num_rows == 7
    dv = next(Path(path).glob("deletion_vector_*.bin"))
    data = bytearray(dv.read_bytes())
    data[-1] ^= 0x40  # break the checksum
    dv.write_bytes(bytes(data))
    with pytest.raises(strata.CorruptTableError) as e:
        list(table.scan())
    err = e.value
    assert err.kind == "DeletionVector"
    assert err.path.endswith(dv.name)
    assert err.data_file.endswith(".parquet")
    with pytest.raises(strata.CorruptTableError):
        table.to_arrow()


def test_every_exception_is_exported_and_a_strata_error():
    for name in strata.exceptions.__all__:
        cls = getattr(strata, name)
        assert issubclass(cls, strata.StrataError), name
    err = strata.ConflictError("lost", kind="Conflict", version=3, reason_kind="version_taken")
    assert (err.version, err.reason_kind, str(err)) == (3, "version_taken", "lost")
