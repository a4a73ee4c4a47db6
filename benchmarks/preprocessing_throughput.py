"""Preprocessing throughput and memory at scale: the job against a pandas read-then-transform baseline.

    python -m benchmarks.preprocessing_throughput [--scales 10,100] [--memory-cap-gib 4]

The real year of purchases is scaled up xN: every replica gets its own customers (ids shifted),
its own invoices, and dates moved by up to three days per invoice, so users, invoices and
distinct pairs grow with N as they would with more customers. Each contender runs in its own
process under the Fargate task's memory (RLIMIT_AS, default 4 GiB), timed on the wall clock,
peak RSS from the kernel (wait4). One run prints every figure and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from devstack.datasets import online_retail_dir
from include.preprocessing.schema import RAW_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30


def base_table() -> pa.Table:
    tables = []
    for path in sorted(online_retail_dir().glob("*.csv.gz")):
        with pa.input_stream(str(path), compression="gzip") as stream:
            tables.append(
                pa_csv.read_csv(
                    stream,
                    convert_options=pa_csv.ConvertOptions(
                        column_types=dict.fromkeys(RAW_COLUMNS, pa.string()),
                        strings_can_be_null=False,
                    ),
                )
            )
    return pa.concat_tables(tables)


def replica(table: pa.Table, r: int) -> pa.Table:
    if r == 0:
        return table
    customer = table.column("CustomerID")
    has_customer = pc.not_equal(customer, "")
    shifted = pc.add(pc.cast(pc.cast(pc.if_else(has_customer, customer, "0"), pa.float64()), pa.int64()), r * 100_000)
    customer = pc.if_else(has_customer, pc.binary_join_element_wise(pc.cast(shifted, pa.string()), ".0", ""), "")
    invoice = table.column("InvoiceNo")
    cancel = pc.starts_with(invoice, "C")
    digits = pc.replace_substring_regex(invoice, r"^C", "")
    numeric = pc.match_substring_regex(digits, r"^\d+$")
    number = pc.cast(pc.if_else(numeric, digits, "0"), pa.int64())
    new_number = pc.add(number, r * 1_000_000)
    new_invoice = pc.if_else(
        numeric,
        pc.binary_join_element_wise(pc.if_else(cancel, "C", ""), pc.cast(new_number, pa.string()), ""),
        invoice,
    )
    stamps = pc.strptime(table.column("InvoiceDate"), format="%Y-%m-%d %H:%M:%S", unit="s")
    # up to +-1.5 days per invoice, the same for every line of an invoice
    shift = (new_number.to_numpy().astype(np.uint64) * np.uint64(2_654_435_761)) % np.uint64(259_200)
    shift = pa.array(shift.astype(np.int64) - 129_600)
    moved = pc.cast(pc.add(pc.cast(stamps, pa.int64()), shift), pa.timestamp("s"))
    dates = pc.strftime(moved, format="%Y-%m-%d %H:%M:%S")
    return (
        table.set_column(table.schema.get_field_index("CustomerID"), "CustomerID", customer)
        .set_column(table.schema.get_field_index("InvoiceNo"), "InvoiceNo", new_invoice)
        .set_column(table.schema.get_field_index("InvoiceDate"), "InvoiceDate", dates)
    )


def scaled_input(scale: int, workdir: Path) -> Path:
    path = workdir / f"online-retail-x{scale}.csv"
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    base = base_table()
    started = time.monotonic()
    with pa_csv.CSVWriter(str(path), base.schema) as writer:
        for r in range(scale):
            writer.write_table(replica(base, r))
    done.write_text(json.dumps({"rows": base.num_rows * scale}))
    print(
        f"  generated {path} ({path.stat().st_size / GIB:.2f} GiB, {base.num_rows * scale:,} rows) "
        f"in {time.monotonic() - started:.0f} s"
    )
    return path


def fit_model(workdir: Path) -> Path:
    from include.preprocessing import job

    path = workdir / "model.json"
    files = [(str(p), p.name) for p in sorted(online_retail_dir().glob("*.csv.gz"))]
    model = job.fit_files(files, [p.name[:7] for p in sorted(online_retail_dir().glob("*.csv.gz"))])
    path.write_text(model.to_json())
    return path


def child(kind: str, input_path: str, model_path: str, out_dir: str) -> None:
    """Runs in the measured process; prints its result as JSON on the last line."""
    from include.preprocessing.model import PreprocessingModel

    model = PreprocessingModel.from_json(Path(model_path).read_text())
    started = time.monotonic()
    if kind == "job":
        from include.preprocessing import job

        _, report = job.process_file(input_path, input_path, model, out_dir)
        result = {k: report[k] for k in ("rows_in", "rows_out", "rows_quarantined")}
    else:
        from benchmarks import preprocessing_baseline

        result = preprocessing_baseline.run(input_path, model, out_dir)
    result["seconds"] = time.monotonic() - started
    print(json.dumps(result))


def measure(kind: str, input_path: Path, model_path: Path, workdir: Path, cap_bytes: int) -> dict:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    out_dir = workdir / f"out-{kind}"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    stdout_path, stderr_path = workdir / f"{kind}.stdout", workdir / f"{kind}.stderr"
    started = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.preprocessing_throughput",
                "--child",
                kind,
                str(input_path),
                str(model_path),
                str(out_dir),
            ],
            stdout=out,
            stderr=err,
            preexec_fn=limit,
            env=env,
            cwd=ROOT,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak RSS
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    peak = usage.ru_maxrss * 1024
    if proc.returncode != 0:
        lines = stderr_path.read_text(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
        return {"ok": False, "error": lines[-1][:160], "wall": wall, "peak_rss": peak}
    result = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    return {"ok": True, **result, "wall": wall, "peak_rss": peak}


def report_line(scale: int, kind: str, m: dict) -> str:
    if not m["ok"]:
        return (
            f"  x{scale:<4} {kind:<9} FAILED after {m['wall']:.1f} s, "
            f"peak RSS {m['peak_rss'] / GIB:.2f} GiB: {m['error']}"
        )
    rate = m["rows_in"] / m["seconds"]
    return (
        f"  x{scale:<4} {kind:<9} {m['rows_in']:>12,} rows  {m['seconds']:8.1f} s  {rate:>12,.0f} rows/s  "
        f"peak RSS {m['peak_rss'] / GIB:5.2f} GiB  kept {m['rows_out']:,}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("KIND", "INPUT", "MODEL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--scales", default="10,100", help="comma-separated scale factors (default 10,100)")
    parser.add_argument("--memory-cap-gib", type=float, default=4.0, help="address-space cap per contender")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mlops-bench")
    parser.add_argument("--delete-inputs", action="store_true", help="remove the generated CSVs at the end")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    cap = int(args.memory_cap_gib * GIB)
    scales = [int(s) for s in args.scales.split(",")]
    print(f"preprocessing benchmark: {os.cpu_count()} cores, memory cap {args.memory_cap_gib:g} GiB per contender")
    model_path = fit_model(args.workdir)
    results: dict[tuple[int, str], dict] = {}
    for scale in scales:
        input_path = scaled_input(scale, args.workdir)
        size = input_path.stat().st_size / GIB
        print(f"x{scale}: {input_path.name}, {size:.2f} GiB")
        for kind in ("job", "baseline"):
            results[scale, kind] = measure(kind, input_path, model_path, args.workdir, cap)
            print(report_line(scale, kind, results[scale, kind]), flush=True)
        if args.delete_inputs:
            input_path.unlink()
    print("ratios (job / baseline):")
    for scale in scales:
        job_m, base_m = results[scale, "job"], results[scale, "baseline"]
        if job_m["ok"] and base_m["ok"]:
            if job_m["rows_out"] != base_m["rows_out"]:
                print(f"  x{scale}: kept rows differ (job {job_m['rows_out']:,}, baseline {base_m['rows_out']:,})")
            speed = (job_m["rows_in"] / job_m["seconds"]) / (base_m["rows_in"] / base_m["seconds"])
            memory = job_m["peak_rss"] / base_m["peak_rss"]
            print(f"  x{scale}: throughput {speed:.1f}x the baseline, peak RSS {memory:.2f}x the baseline's")
        elif job_m["ok"]:
            print(
                f"  x{scale}: the baseline failed within {args.memory_cap_gib:g} GiB; the job held "
                f"{job_m['peak_rss'] / GIB:.2f} GiB peak RSS"
            )
        else:
            print(f"  x{scale}: the job failed: {job_m['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
