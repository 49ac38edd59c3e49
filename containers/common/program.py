"""What a step does first when it is the whole process (`python -m containers.infer`), before
its own imports. A library caller (tests, a runner importing `main`) never runs it.

- The cyclic garbage collector pauses from the first line (`background.pause_gc_from_start`),
  not only while the background stages import: the step's own imports (numpy, pydicom,
  pydantic) also create long-lived objects and almost no garbage. The step's `BackgroundStages`
  resumes it, with what was loaded frozen, once the stages are done.
- pydicom is imported without `requests`: pydicom imports it for one thing, downloading its own
  test data files (`pydicom.data.download`), which a step never does, and it brings urllib3,
  the charset detectors and their tables (about 50 ms, a sixth of the step's imports). Any
  later `import requests` loads it as usual.
"""

from __future__ import annotations

from containers.common.background import pause_gc_from_start
from containers.common.monai_import import packages_absent

# Packages the step's first imports look for but never use (see the module's docstring).
UNUSED_BY_STEPS = ("requests",)


def begin_program() -> None:
    """Run by a step's `__main__` before its other imports, when it is the program."""
    pause_gc_from_start()
    with packages_absent(UNUSED_BY_STEPS):
        import pydicom  # noqa: F401
