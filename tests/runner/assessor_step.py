"""A tiny step for the runner tests: reads its input mount, writes a QC assessor XML
(built with `xnat_plugin.assessors`) and a report, or fails on request."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from xnat_plugin.assessors import QcAssessment, ScanStatistics


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--fail", action="store_true")
    parser.add_argument("--no-xml", action="store_true")
    args = parser.parse_args()
    if args.fail:
        sys.stderr.write("asked to fail\n")
        return 3
    inputs = sorted(
        p.relative_to(args.input).as_posix() for p in args.input.rglob("*") if p.is_file()
    )
    report = args.output / "REPORT"
    report.mkdir(parents=True, exist_ok=True)
    (report / "report.json").write_text(
        json.dumps(
            {
                "input-files": inputs,
                "xnat-host": os.environ.get("XNAT_HOST"),
                "xnat-user-is-admin": os.environ.get("XNAT_USER") == "admin",
                "workflow-id-set": "XNAT_WORKFLOW_ID" in os.environ,
            }
        )
    )
    if not args.no_xml:
        assessor = QcAssessment(
            label=f"{args.label}_runner_test",
            project=args.project,
            session_id=args.session_id,
            scans=[ScanStatistics(scan_id="1", statistics={"files": float(len(inputs))})],
        )
        (args.output / "assessor.xml").write_text(assessor.to_xml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
