"""A hostile step: a valid QC assessor XML, and in its `QC` output a symbolic link to a file of
the host (`--link-to`), which the step could never read from inside a container."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--session-label", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--link-to", type=Path, required=True)
    args = parser.parse_args()
    qc = QcAssessment(
        label=f"{args.session_label}_linkqc",
        project=args.project,
        session_id=args.session_id,
        scans=[ScanStatistics(scan_id="1", statistics={"files": 1.0})],
    )
    (args.output / "assessor.xml").write_text(qc.to_xml())
    (args.output / "QC").mkdir()
    (args.output / "QC" / "result.txt").write_text("fine\n")
    os.symlink(args.link_to, args.output / "QC" / "host-file.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
