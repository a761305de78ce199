"""The command-line tool against the Python `deltalake` package and raw Parquet, on the
same files in one run (alternating, median of --runs): how long it takes to

- append a Parquet file (`strata append`) vs `write_deltalake(pyarrow.parquet.read_table())`
  vs `pyarrow.parquet.write_table` of the same table (the floor: no log);
- append the same rows from CSV (`strata append x.csv`) vs pyarrow's CSV reader +
  `write_deltalake`;
- export a table to one Parquet file (`strata scan --format parquet`) vs
  `DeltaTable.to_pyarrow_table()` + `pyarrow.parquet.write_table`.

Each side is a fresh process, as a person or a script runs it, so process start and (for
Python) imports are included. Rows are the shared standard dataset
(`../shared/bench/README.md`).

    cargo build --release
    target/interop-venv/bin/python crates/strata-cli/benches/cli.py --rows 2000000

(the venv is the interop tests' one: `cargo test --all-features interop` makes it).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# crates/strata-cli/benches/cli.py -> the workspace root, whose target/ holds the binary.
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
STRATA = os.path.join(ROOT, "target", "release", "strata")


def standard(rows):
    i = pa.array(range(rows), pa.int64())
    ids = i.to_pylist()
    return pa.table(
        {
            "id": i,
            "ts": pa.array(
                [1_700_000_000_000_000 + k * 1000 for k in ids], pa.timestamp("us", "UTC")
            ),
            "value": pa.array([((k * 2654435761) % 1_000_000) / 1e6 for k in ids], pa.float64()),
            "category": pa.array([f"c{k % 16}" for k in ids]),
            "payload": pa.array([f"payload-{k:024}" for k in ids]),
        }
    )


def timed(argv):
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


PY_APPEND_PARQUET = """
import sys, pyarrow.parquet as pq
from deltalake import write_deltalake
write_deltalake(sys.argv[1], pq.read_table(sys.argv[2]), mode="append")
"""
PY_APPEND_CSV = """
import sys, pyarrow as pa, pyarrow.csv as pacsv
from deltalake import write_deltalake
schema = pa.schema([("id", pa.int64()), ("ts", pa.timestamp("us", "UTC")),
    ("value", pa.float64()), ("category", pa.string()), ("payload", pa.string())])
table = pacsv.read_csv(sys.argv[2], convert_options=pacsv.ConvertOptions(column_types=schema))
write_deltalake(sys.argv[1], table, mode="append")
"""
PY_RAW = """
import sys, pyarrow.parquet as pq
pq.write_table(pq.read_table(sys.argv[2]), sys.argv[1], compression="snappy")
"""
PY_EXPORT = """
import sys, pyarrow.parquet as pq
from deltalake import DeltaTable
pq.write_table(DeltaTable(sys.argv[1]).to_pyarrow_table(), sys.argv[2])
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(STRATA):
        sys.exit(f"{STRATA} missing: run `cargo build --release` first")
    work = tempfile.mkdtemp(prefix="strata-cli-bench-")
    try:
        data = standard(args.rows)
        parquet = os.path.join(work, "in.parquet")
        csv = os.path.join(work, "in.csv")
        pq.write_table(data, parquet)
        pacsv.write_csv(data, csv)
        py = sys.executable
        results = {}

        def fresh(name):
            path = os.path.join(work, name)
            shutil.rmtree(path, ignore_errors=True)
            if os.path.exists(path):
                os.remove(path)
            return path

        cases = {
            "append_parquet": {
                "strata": lambda: timed([STRATA, "append", fresh("s"), parquet, "--create"]),
                "deltalake": lambda: timed([py, "-c", PY_APPEND_PARQUET, fresh("d"), parquet]),
                "raw_parquet": lambda: timed([py, "-c", PY_RAW, fresh("raw.parquet"), parquet]),
            },
            "append_csv": {
                "strata": lambda: timed([STRATA, "append", fresh("s"), csv, "--create"]),
                "deltalake": lambda: timed([py, "-c", PY_APPEND_CSV, fresh("d"), csv]),
            },
        }
        for workload, sides in cases.items():
            samples = {side: [] for side in sides}
            for _ in range(args.runs):
                for side, run in sides.items():
                    samples[side].append(run())
            results[workload] = {side: statistics.median(s) for side, s in samples.items()}
        # Export: both read the table strata wrote in the last append_parquet run.
        table = os.path.join(work, "export_src")
        subprocess.run([STRATA, "append", table, parquet, "--create"], check=True,
                       stdout=subprocess.DEVNULL)
        samples = {"strata": [], "deltalake": []}
        for _ in range(args.runs):
            samples["strata"].append(timed([STRATA, "scan", table, "--format", "parquet",
                                            "--output", fresh("out_s.parquet")]))
            samples["deltalake"].append(timed([py, "-c", PY_EXPORT, table, fresh("out_d.parquet")]))
        results["export_parquet"] = {side: statistics.median(s) for side, s in samples.items()}
        for workload, sides in results.items():
            line = {"workload": workload, "rows": args.rows}
            line.update({f"{side}_s": round(t, 3) for side, t in sides.items()})
            line["strata/deltalake"] = round(sides["strata"] / sides["deltalake"], 2)
            if "raw_parquet" in sides:
                line["strata/raw_parquet"] = round(sides["strata"] / sides["raw_parquet"], 2)
            print(json.dumps(line))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
