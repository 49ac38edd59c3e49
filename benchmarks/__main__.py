"""`python -m benchmarks [--quick] [--only NAME]`: run every benchmark, print one table,
write `bench-results.json` as {name: {ours, reference, ratio, goal, holds, ...}}."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

import benchmarks
from benchmarks.harness import BenchResult
from xnat_plugin.log import configure_logging


def discover() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument(
        "--only", action="append", default=[], help="module name, e.g. bench_metrics"
    )
    parser.add_argument("--out", default="bench-results.json")
    args = parser.parse_args(argv)
    configure_logging()
    log = logging.getLogger("benchmarks")

    results: list[BenchResult] = []
    failed: list[str] = []
    for name in discover():
        if args.only and name not in args.only:
            continue
        log.info("running %s", name)
        try:
            results.extend(importlib.import_module(f"benchmarks.{name}").run(args.quick))
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            log.exception("%s failed: %s", name, exc)
            failed.append(name)

    table = Table(title="xnat-monai benchmarks (ratio = ours / reference)")
    for column in ("benchmark", "ours", "reference", "ratio", "goal", "holds", "note"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.name,
            f"{r.ours:.4g} {r.unit}",
            f"{r.reference:.4g} {r.unit}",
            f"{r.ratio:.3f}",
            r.goal,
            "yes" if r.holds else "NO",
            r.note,
        )
    # Wide enough for the names when piped to a file or CI log.
    Console(width=max(Console().width, 160)).print(table)
    Path(args.out).write_text(json.dumps({r.name: r.as_json() for r in results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
