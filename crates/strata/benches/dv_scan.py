#!/usr/bin/env python3
"""Deletion vectors cost little on a scan: strata reading a 1,000-file table where 10% of the
files carry a deletion vector, against the same table without vectors and against DuckDB's
`delta_scan` (delta-kernel-rs) on the same bytes, alternated in one run.

Run from the workspace root after the interop venv exists (any `cargo test` makes it):

    python3 crates/strata/benches/dv_scan.py [--rounds 7] [--dir target/bench-dv]

Prints median seconds per side and the two ratios the issue asks for:
  dv / plain    (strata, vectors against none; the target is <= 1.2)
  strata / duckdb (both on the table with vectors; the target is <= 1.0)
"""
import argparse
import os
import statistics
import sys

from bench_common import DUCKDB_PRELUDE, ROOT, VENV_PYTHON, bench_binary, require_venv, run_json


DUCKDB_SIDE = DUCKDB_PRELUDE + r"""
table = sys.argv[1]
t = time.perf_counter()
rows = con.execute("SELECT * FROM delta_scan(?)", [table]).fetch_arrow_table().num_rows
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
"""



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-dv"))
    args = parser.parse_args()
    require_venv()
    binary = bench_binary()
    if not os.path.exists(os.path.join(args.dir, "dv", "_delta_log")):
        print("preparing the tables (untimed)...", file=sys.stderr)
        run_json([binary, "dv_prepare", "--dir", args.dir])
    plain, dv = os.path.join(args.dir, "plain"), os.path.join(args.dir, "dv")
    sides = {
        "strata plain": lambda: run_json([binary, "full_scan", "--table", plain]),
        "strata dv": lambda: run_json([binary, "full_scan", "--table", dv]),
        "duckdb dv": lambda: run_json([VENV_PYTHON, "-c", DUCKDB_SIDE, dv]),
        "duckdb plain": lambda: run_json([VENV_PYTHON, "-c", DUCKDB_SIDE, plain]),
    }
    times = {name: [] for name in sides}
    rows = {}
    for _ in range(args.rounds):
        for name, side in sides.items():
            result = side()
            times[name].append(result["seconds"])
            rows[name] = result["rows"]
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name in sides:
        print(f"{name:14} {medians[name]:.4f} s  ({rows[name]} rows)")
    if rows["strata dv"] != rows["duckdb dv"] or rows["strata plain"] != rows["duckdb plain"]:
        sys.exit(f"row counts differ: {rows}")
    print(f"dv / plain (strata):      {medians['strata dv'] / medians['strata plain']:.2f}")
    print(f"strata / duckdb (dv):     {medians['strata dv'] / medians['duckdb dv']:.2f}")
    print(f"strata / duckdb (plain):  {medians['strata plain'] / medians['duckdb plain']:.2f}")


if __name__ == "__main__":
    main()
