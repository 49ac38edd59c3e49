"""Import MONAI's networks without the optional packages a run of them does not use.

MONAI needs only torch and numpy; everything else it uses is optional (MONAI's own
`monai.utils.optional_import`: when a package cannot be imported, MONAI keeps a placeholder that
raises only if the feature is used). But MONAI's `__init__` loads every subpackage, and each
optional package that *is* installed is imported in full on the way: pytorch-ignite for the
engines and handlers (and torch.distributed with it), matplotlib for the notebook helpers,
SciPy, scikit-image, scikit-learn and pandas for transforms, metrics and profiling, TensorBoard
for the visualisers. In the step images they are installed (training and MONAI's own bundles use
them), and they cost about two of the three seconds of `import monai`.

A run that only builds a segmentation network (UNet, SegResNet, SwinUNETR, DynUNet) and calls it
uses none of them. `import_networks_only()` imports `monai.networks.nets` as MONAI's minimal
install sees it: during that import, and in the importing thread only, those packages are not
found (a `sys.meta_path` finder raises `ModuleNotFoundError`, which is what Python's import
system itself raises for a module it cannot find). MONAI then keeps its placeholders, exactly as
on an install without them. Other threads import as usual meanwhile, and afterwards every
package imports as usual for everyone; only the MONAI modules loaded here hold placeholders, so
a process that needs more of MONAI must import it otherwise first: training imports it whole,
and a model-zoo bundle's pipeline leaves out a shorter list with `packages_absent`
(`containers.common.bundle_pipeline.import_monai`: its transforms may use SciPy and
scikit-image).
"""

from __future__ import annotations

import importlib.abc
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

log = logging.getLogger(__name__)

# Optional packages MONAI imports at its top level that building and running a network never
# uses (each listed with what MONAI imports it for). einops stays: SwinUNETR uses it.
UNUSED_BY_NETWORKS = (
    "ignite",  # monai.engines, monai.handlers, the Events enums of monai.utils.enums
    "matplotlib",  # monai.utils.jupyter_utils, monai.visualize
    "scipy",  # transforms (distance maps, morphology), the ultrasound confidence map
    "skimage",  # monai.transforms.utils (morphology, measure), pathology transforms
    "sklearn",  # monai.metrics.embedding_collapse
    "pandas",  # monai.utils.profiling
    "tensorboard",  # monai.visualize.img2tensorboard
    "requests",  # monai.apps' dataset downloads (TCIA)
    "yaml",  # monai.bundle's YAML configs (our bundles' configs are JSON)
    "tifffile",  # monai.data.wsi_reader (whole-slide images)
    "filelock",  # monai.transforms.io (locks around a persistent cache)
)


class _AbsentInThread(importlib.abc.MetaPathFinder):
    """Finds nothing for `names` (and their submodules) in one thread: the import fails."""

    def __init__(self, names: Sequence[str], thread: int) -> None:
        self._names = frozenset(names)
        self._thread = thread

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if threading.get_ident() == self._thread and fullname.partition(".")[0] in self._names:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


@contextmanager
def packages_absent(names: Sequence[str]) -> Iterator[None]:
    """While in the block, the current thread cannot import `names` that are not loaded yet
    (a package another thread already loaded is simply found in `sys.modules`)."""
    finder = _AbsentInThread(names, threading.get_ident())
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def import_networks_only() -> ModuleType:
    """`monai.networks.nets`, imported without `UNUSED_BY_NETWORKS` unless MONAI is loaded
    already (then as it was loaded)."""
    if "monai" in sys.modules:
        import monai.networks.nets as loaded

        return loaded
    with packages_absent(UNUSED_BY_NETWORKS):
        import monai.networks.nets as nets
    log.debug("MONAI networks imported without %s", ", ".join(UNUSED_BY_NETWORKS))
    return nets
