"""The tiny step the container-service tests launch: it writes a QC assessor XML for the
session and one file for the assessor's `QC` resource, then exits with `--exit-code`."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import requests

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--session-label", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    time.sleep(args.sleep)
    files = sorted(p for p in args.input.rglob("*") if p.is_file())
    print(f"tiny step on {args.session_label}: {len(files)} input files")
    if os.environ.get("XNAT_HOST"):
        # Who the container acts as: XNAT_USER/XNAT_PASS are the launching user's alias token.
        auth = (os.environ["XNAT_USER"], os.environ["XNAT_PASS"])
        answer = requests.get(f"{os.environ['XNAT_HOST']}/data/auth", auth=auth, timeout=30)
        print(f"XNAT says: {answer.text.strip()}")
    qc = QcAssessment(
        label=f"{args.session_label}_tinyqc",
        project=args.project,
        session_id=args.session_id,
        scans=[ScanStatistics(scan_id="1", statistics={"input_files": float(len(files))})],
    )
    (args.output / "QC").mkdir(parents=True, exist_ok=True)
    (args.output / "QC" / "result.txt").write_text(f"{len(files)} input files\n")
    (args.output / "assessor.xml").write_text(qc.to_xml())
    if args.exit_code:
        print("tiny step asked to fail", file=sys.stderr)
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
