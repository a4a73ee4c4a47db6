"""Preprocessing throughput and memory at scale: the job against DuckDB, Polars, a pandas baseline and
the machine's bound (the raw parse alone), side by side in one run.

    python -m benchmarks.preprocessing_throughput [--scales 10,100] [--rounds 3] [--memory-cap-gib 4]

The real year of purchases is scaled up xN: every replica gets its own customers (ids shifted),
its own invoices, and dates moved by up to three days per invoice, so users, invoices and
distinct pairs grow with N as they would with more customers. Each contender runs in its own
process under the Fargate task's memory (RLIMIT_AS, default 4 GiB), timed from inside (model
loaded, imports done), peak RSS from the kernel (wait4). Rounds alternate the contenders (each
round starts one later in the order) so that a busy moment of a shared machine does not land on one
of them; the table shows the median round and the worst peak.

Contenders: `job` (include/preprocessing, `process_file`), `duckdb` and `polars` (the same rules
and outputs, benchmarks/preprocessing_{duckdb,polars}.py), `pandas` (read_csv, then transform:
the old anchor) and `bound` - pyarrow's multi-threaded CSV reader over the same file, all columns
as text, nothing transformed or written: the machine's parse bound. Every rival must keep the
same rows with the same count per quarantine reason as the job; the run fails loudly otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import signal
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


KINDS = ("bound", "job", "duckdb", "polars", "pandas")


def parse_bound(input_path: str) -> dict:
    """The raw parse alone: Arrow's threaded CSV reader, the job's column types, batches dropped."""
    rows = 0
    reader = pa_csv.open_csv(
        input_path,
        read_options=pa_csv.ReadOptions(use_threads=True, block_size=8 << 20),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(RAW_COLUMNS, pa.string()), strings_can_be_null=False
        ),
    )
    for batch in reader:
        rows += batch.num_rows
    return {"rows_in": rows}


def child(kind: str, input_path: str, model_path: str, out_dir: str) -> None:
    """Runs in the measured process; prints its result as JSON on the last line."""
    from include.preprocessing.model import PreprocessingModel

    model = PreprocessingModel.from_json(Path(model_path).read_text())
    if kind == "job":
        from include.preprocessing import job

        run = lambda: job.process_file(input_path, input_path, model, out_dir)[1]  # noqa: E731
    elif kind == "bound":
        run = lambda: parse_bound(input_path)  # noqa: E731
    else:
        module = {
            "duckdb": "preprocessing_duckdb",
            "polars": "preprocessing_polars",
            "pandas": "preprocessing_baseline",
        }
        run = lambda: importlib.import_module(f"benchmarks.{module[kind]}").run(input_path, model, out_dir)  # noqa: E731
        importlib.import_module(f"benchmarks.{module[kind]}")  # imports are not part of the time
    started = time.monotonic()
    report = run()
    seconds = time.monotonic() - started
    keys = ("rows_in", "rows_out", "rows_quarantined", "quarantined_by_reason", "users", "items")
    print(json.dumps({**{k: report[k] for k in keys if k in report}, "seconds": seconds}))


def _anon_rss(pid: int) -> int:
    """Memory the task would be charged for and could not reclaim: anonymous (and shared) RSS.
    File pages a process maps (Polars maps its input) are page cache, which the kernel reclaims."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            fields = dict(line.split(":", 1) for line in fh if line.startswith(("RssAnon", "RssShmem")))
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return 0
    return sum(int(v.split()[0]) for v in fields.values()) * 1024


def measure(kind: str, input_path: Path, model_path: Path, workdir: Path, cap_bytes: int, cap_mode: str) -> dict:
    """Run one contender in its own process under the memory cap. `rss` (the default) models
    Fargate's cgroup limit: the process is killed when its anonymous RSS passes the cap (sampled
    every 10 ms). `as` caps the address space (RLIMIT_AS), which also counts what an allocator
    reserves and never touches and every mapped file: stricter than the task, and unfair to
    Polars, which maps its input."""

    def limit() -> None:
        if cap_mode == "as":
            resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    out_dir = workdir / f"out-{kind}"
    shutil.rmtree(out_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    stdout_path, stderr_path = workdir / f"{kind}.stdout", workdir / f"{kind}.stderr"
    started = time.monotonic()
    peak_anon, killed = 0, False
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
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # this child's own rusage: its peak RSS
            if pid:
                break
            anon = _anon_rss(proc.pid)
            peak_anon = max(peak_anon, anon)
            if cap_mode == "rss" and anon > cap_bytes and not killed:
                proc.send_signal(signal.SIGKILL)
                killed = True
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime
    memory = {"peak_rss": usage.ru_maxrss * 1024, "peak_anon": peak_anon, "cpu": cpu}
    shutil.rmtree(out_dir, ignore_errors=True)
    if killed:
        error = f"killed: anonymous RSS passed {cap_bytes / GIB:g} GiB (the task's memory)"
        return {"ok": False, "error": error, "wall": wall, **memory}
    if proc.returncode != 0:
        lines = stderr_path.read_text(errors="replace").strip().splitlines() or [f"exit {proc.returncode}"]
        return {"ok": False, "error": lines[-1][:160], "wall": wall, **memory}
    result = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    return {"ok": True, **result, "wall": wall, **memory}


class Disagreement(Exception):
    """A rival kept other rows than the job: its figures would compare different work."""


def check_agreement(scale: int, kind: str, m: dict, job_m: dict) -> None:
    if kind == "bound" or not (m["ok"] and job_m["ok"]):
        return
    for key in ("rows_in", "rows_out", "quarantined_by_reason"):
        if m.get(key) != job_m.get(key):
            raise Disagreement(f"x{scale}: {kind} {key} = {m.get(key)} but the job's is {job_m.get(key)}")


def median_round(rounds: list[dict]) -> dict:
    """The median round by time (a failure if any round failed), with the worst peaks of all rounds."""
    worst = {key: max(m[key] for m in rounds) for key in ("peak_rss", "peak_anon")}
    ok = sorted((m for m in rounds if m["ok"]), key=lambda m: m["seconds"])
    chosen = next(m for m in rounds if not m["ok"]) if len(ok) < len(rounds) else ok[len(ok) // 2]
    return {**chosen, **worst, "rounds": len(rounds)}


def _memory(m: dict) -> str:
    return f"peak {m['peak_anon'] / GIB:4.2f} GiB anon, {m['peak_rss'] / GIB:4.2f} GiB RSS"


def report_line(scale: int, kind: str, m: dict) -> str:
    if not m["ok"]:
        return f"  x{scale:<4} {kind:<7} FAILED after {m['wall']:.1f} s, {_memory(m)}: {m['error']}"
    rate = m["rows_in"] / m["seconds"]
    kept = f"  kept {m['rows_out']:,}" if "rows_out" in m else ""
    return (
        f"  x{scale:<4} {kind:<7} {m['rows_in']:>12,} rows  {m['seconds']:7.1f} s  {rate:>11,.0f} rows/s  "
        f"cpu {m['cpu']:6.1f} s  {_memory(m)}{kept}"
    )


def table(scale: int, summary: dict[str, dict], cap_gib: float) -> list[str]:
    """One markdown table: every contender's median round, and its ratios to the job."""
    job_m = summary["job"]
    job_rate = job_m["rows_in"] / job_m["seconds"] if job_m["ok"] else None
    rounds = max(m["rounds"] for m in summary.values())
    lines = [
        f"x{scale}, {job_m.get('rows_in', 0):,} rows (median of {rounds} rounds; worst peaks):",
        "| contender | seconds | rows/s | CPU s | peak anon | peak RSS | vs the job |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, m in summary.items():
        memory = f"{m['peak_anon'] / GIB:.2f} GiB | {m['peak_rss'] / GIB:.2f} GiB"
        if not m["ok"]:
            lines.append(f"| {kind} | failed | - | {m['cpu']:.1f} | {memory} | {m['error'][:100]} |")
            continue
        rate = m["rows_in"] / m["seconds"]
        if kind == "job" or job_rate is None:
            versus = "-"
        elif kind == "bound":
            versus = f"the job runs at **{job_rate / rate:.0%}** of the bound's rows/s"
        else:
            versus = (
                f"{rate / job_rate:.2f}x the job's rows/s (the job {job_rate / rate:.2f}x as fast), "
                f"{m['peak_anon'] / job_m['peak_anon']:.2f}x its peak anon"
            )
        lines.append(f"| {kind} | {m['seconds']:.1f} | {rate:,.0f} | {m['cpu']:.1f} | {memory} | {versus} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("KIND", "INPUT", "MODEL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--scales", default="10,100", help="comma-separated scale factors (default 10,100)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per scale (default 3)")
    parser.add_argument("--contenders", default=",".join(KINDS), help=f"subset of {','.join(KINDS)}")
    parser.add_argument("--memory-cap-gib", type=float, default=4.0, help="memory cap per contender (GiB)")
    parser.add_argument("--cap-mode", choices=("rss", "as"), default="rss", help="see measure() (default rss)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mlops-bench")
    parser.add_argument("--delete-inputs", action="store_true", help="remove the generated CSVs at the end")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    kinds = [k for k in args.contenders.split(",") if k]
    if unknown := sorted(set(kinds) - set(KINDS)):
        parser.error(f"unknown contenders {unknown}: choose from {list(KINDS)}")
    if "job" not in kinds:
        kinds.insert(0, "job")  # the reference every other contender is checked and measured against
    args.workdir.mkdir(parents=True, exist_ok=True)
    cap = int(args.memory_cap_gib * GIB)
    scales = [int(s) for s in args.scales.split(",")]
    print(
        f"preprocessing benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
        f"memory cap {args.memory_cap_gib:g} GiB per contender, {args.rounds} alternating rounds"
    )
    model_path = fit_model(args.workdir)
    tables = []
    try:
        for scale in scales:
            input_path = scaled_input(scale, args.workdir)
            print(f"x{scale}: {input_path.name}, {input_path.stat().st_size / GIB:.2f} GiB")
            rounds: dict[str, list[dict]] = {k: [] for k in kinds}
            for r in range(args.rounds):
                order = kinds[r % len(kinds) :] + kinds[: r % len(kinds)]
                for kind in order:
                    m = measure(kind, input_path, model_path, args.workdir, cap, args.cap_mode)
                    rounds[kind].append(m)
                    print(f"{report_line(scale, kind, m)}  (round {r + 1})", flush=True)
                for kind in kinds:
                    check_agreement(scale, kind, rounds[kind][-1], rounds["job"][-1])
            tables += table(scale, {k: median_round(v) for k, v in rounds.items()}, args.memory_cap_gib)
            if args.delete_inputs:
                input_path.unlink()
    except Disagreement as err:
        print(f"FAILED: the contenders disagree - {err}", file=sys.stderr)
        return 1
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
