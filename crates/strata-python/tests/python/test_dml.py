"""Delete, update and merge."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest

import strata
from conftest import sorted_rows


@pytest.fixture
def accounts(uri) -> strata.Table:
    return strata.write_table(
        uri,
        pa.table(
            {
                "id": pa.array([1, 2, 3, 4], pa.int64()),
                "owner": ["ana", "bo", "cy", "di"],
                "balance": pa.array([100, -5, 0, 42], pa.int64()),
            }
        ),
    )


def test_delete(accounts):
    result = accounts.delete("balance <= 0")
    assert result.version == 1
    assert result.num_deleted_rows == 2
    assert [r["id"] for r in sorted_rows(accounts.to_arrow())] == [1, 4]
    nothing = accounts.delete("id > 1000")
    assert nothing.num_deleted_rows == 0 and nothing.version is None
    assert accounts.delete().num_deleted_rows == 2
    assert accounts.to_arrow().num_rows == 0


def test_delete_with_deletion_vectors(uri):
    table = strata.write_table(
        uri,
        pa.table({"id": pa.array(range(100), pa.int64())}),
        properties={"delta.enableDeletionVectors": "true"},
    )
    result = table.delete("id % 10 = 0")
    assert result.num_deleted_rows == 10
    assert result.num_deletion_vectors_added == 1
    assert result.num_added_files == 0
    assert table.to_arrow().num_rows == 90


def test_update(accounts):
    result = accounts.update({"balance": "balance + 1", "owner": "upper(owner)"}, "id <= 2")
    assert result.num_updated_rows == 2
    assert sorted_rows(accounts.to_arrow()) == [
        {"id": 1, "owner": "ANA", "balance": 101},
        {"id": 2, "owner": "BO", "balance": -4},
        {"id": 3, "owner": "cy", "balance": 0},
        {"id": 4, "owner": "di", "balance": 42},
    ]
    everyone = accounts.update({"balance": "0"})
    assert everyone.num_updated_rows == 4
    with pytest.raises(strata.InvalidArgumentError):
        accounts.update({})


def test_merge_upsert_and_delete(accounts):
    changes = pl.DataFrame(
        {"id": [2, 3, 9], "owner": ["bo", "cy", "zed"], "balance": [50, None, 9]}
    )
    result = (
        accounts.merge(changes, "t.id = s.id", source_alias="s", target_alias="t")
        .when_matched_delete("s.balance IS NULL")
        .when_matched_update({"balance": "t.balance + s.balance"})
        .when_not_matched_insert_all()
        .execute()
    )
    assert result.num_source_rows == 3
    assert result.num_target_rows_updated == 1
    assert result.num_target_rows_deleted == 1
    assert result.num_target_rows_inserted == 1
    assert sorted_rows(accounts.to_arrow()) == [
        {"id": 1, "owner": "ana", "balance": 100},
        {"id": 2, "owner": "bo", "balance": 45},
        {"id": 4, "owner": "di", "balance": 42},
        {"id": 9, "owner": "zed", "balance": 9},
    ]


def test_merge_by_source_clauses_and_txn(accounts):
    source = pa.table(
        {"id": pa.array([1], pa.int64()), "owner": ["ann"], "balance": pa.array([7], pa.int64())}
    )
    merger = (
        accounts.merge(source, "target.id = source.id", txn=("sync", 1))
        .when_matched_update_all()
        .when_not_matched_by_source_update({"balance": "0"}, "target.balance < 0")
        .when_not_matched_by_source_delete()
    )
    result = merger.execute()
    assert not result.already_applied
    assert sorted_rows(accounts.to_arrow()) == [
        {"id": 1, "owner": "ann", "balance": 7},
        {"id": 2, "owner": "bo", "balance": 0},
    ]
    with pytest.raises(strata.InvalidArgumentError):
        merger.execute()  # a merger runs once
    again = (
        accounts.merge(source, "target.id = source.id", txn=("sync", 1))
        .when_matched_update_all()
        .execute()
    )
    assert again.already_applied


def test_merge_with_two_source_rows_for_one_target_row(accounts):
    source = pa.table({"id": pa.array([1, 1], pa.int64()), "balance": pa.array([1, 2], pa.int64())})
    with pytest.raises(strata.MergeMultipleMatchesError) as e:
        (
            accounts.merge(source, "target.id = source.id")
            .when_matched_update({"balance": "source.balance"})
            .execute()
        )
    assert "id = 1" in e.value.key
    assert e.value.location == accounts.location
    assert accounts.version() == 0  # nothing committed
