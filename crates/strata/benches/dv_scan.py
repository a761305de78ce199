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
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VENV_PYTHON = os.path.join(ROOT, "target", "interop-venv", "bin", "python")

DUCKDB_SIDE = r"""
import glob, json, os, sys, time
import duckdb, duckdb_extension_delta
table = sys.argv[1]
ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_delta.__file__), "extensions", "*", "delta.duckdb_extension"))[0]
con = duckdb.connect()
con.execute(f"LOAD '{ext}'")
t = time.perf_counter()
rows = con.execute("SELECT * FROM delta_scan(?)", [table]).fetch_arrow_table().num_rows
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
"""


def bench_binary():
    out = subprocess.run(
        ["cargo", "bench", "-p", "strata", "--bench", "workloads", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "workloads" and msg.get("executable"):
            return msg["executable"]
    sys.exit("cannot find the workloads bench binary")


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-dv"))
    args = parser.parse_args()
    if not os.path.exists(VENV_PYTHON):
        sys.exit(f"no interop venv at {VENV_PYTHON}: run `cargo test -p strata --test integration interop` once")
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
