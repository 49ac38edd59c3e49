"""Run `python -m containers.infer` as the program it is in a container (runpy, `__main__`, as
`-m` does) and report the process' state at its last call, `os._exit` (`exit_at_once`): its
modules, the garbage collector, and whether pydicom saw `requests`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_HARNESS = """
import gc, json, os, runpy, sys
first = gc.isenabled()
def report(code):
    from pydicom.data import download
    state = dict(exit_code=code, modules=sorted(sys.modules), gc_at_start=first,
                 gc_at_end=gc.isenabled(), frozen=gc.get_freeze_count(),
                 pydicom_has_requests=download.HAVE_REQUESTS)
    os.write(1, (json.dumps(state) + "\\n").encode())
    os._exit_real(code)
os._exit_real, os._exit = os._exit, report
sys.argv = ["containers.infer", *json.loads(sys.argv[1])]
runpy.run_module("containers.infer", run_name="__main__", alter_sys=True)
"""


@dataclass
class ProgramState:
    exit_code: int
    modules: list[str]
    gc_at_start: bool
    gc_at_end: bool
    frozen: int
    pydicom_has_requests: bool


def run_infer_program(argv: list[str]) -> ProgramState:
    done = subprocess.run(
        [sys.executable, "-c", _HARNESS, json.dumps(argv)],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return ProgramState(**json.loads(done.stdout.strip().splitlines()[-1]))
