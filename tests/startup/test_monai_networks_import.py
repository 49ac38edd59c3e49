"""MONAI's networks imported without the optional packages only MONAI's other parts use
(`containers.common.monai_import`): the same networks, computing the same outputs, from a
MONAI that loaded none of those packages; other threads, and everything after, import as usual.
Each check runs in a fresh interpreter: a process imports MONAI once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from containers.common.monai_import import UNUSED_BY_NETWORKS

REPO = Path(__file__).resolve().parents[2]

# Each network, seeded, on one fixed input: the sum and a few values of its output.
_NETWORK_OUTPUTS = r"""
import json, sys, torch
torch.set_num_threads(1)  # one reduction order: the same sums to the last bit
if sys.argv[1] == "networks-only":
    from containers.common.monai_import import import_networks_only
    nets = import_networks_only()
else:
    import monai.networks.nets as nets
from containers.common.networks import build_network
outputs = {}
for name, kwargs, patch in [
    ("UNet", {"channels": [4, 8, 16], "strides": [2, 2]}, (16, 16, 16)),
    ("SegResNet", {"init_filters": 8, "blocks_down": [1, 1], "blocks_up": [1]}, (16, 16, 16)),
    ("DynUNet", {"filters": [4, 8, 16], "kernel_size": [[3, 3, 3]] * 3,
                 "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2]],
                 "upsample_kernel_size": [[2, 2, 2], [2, 2, 2]]}, (16, 16, 16)),
    ("SwinUNETR", {"feature_size": 12, "depths": [1, 1, 1, 1]}, (64, 64, 64)),
]:
    torch.manual_seed(0)
    network = build_network(name, 1, 3, patch, **kwargs).eval()
    torch.manual_seed(1)
    image = torch.rand(1, 1, *patch)
    with torch.no_grad():
        out = network(image)
    outputs[name] = [float(out.double().sum()), *[float(v) for v in out.flatten()[:4]]]
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"outputs": outputs, "loaded": loaded}))
"""


def run_python(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_networks_compute_the_same_outputs_from_a_monai_that_loaded_no_unused_package() -> None:
    only = run_python(_NETWORK_OUTPUTS, "networks-only")
    full = run_python(_NETWORK_OUTPUTS, "full")
    assert only["outputs"] == full["outputs"]
    assert not set(only["loaded"]) & set(UNUSED_BY_NETWORKS)  # type: ignore[arg-type]
    # Without the guard MONAI does load them here (the test would prove nothing otherwise).
    assert {"ignite", "scipy"} <= set(full["loaded"])  # type: ignore[arg-type]


def test_other_threads_and_later_imports_are_not_affected() -> None:
    code = r"""
import json, sys, threading
from containers.common.monai_import import packages_absent
seen = {}
def other_thread():
    import scipy.ndimage  # another thread imports as usual meanwhile
    seen["other thread"] = "scipy.ndimage" in sys.modules
with packages_absent(["scipy", "pandas"]):
    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    try:
        import pandas
        seen["in block"] = "imported"
    except ModuleNotFoundError as exc:
        seen["in block"] = exc.name
import pandas  # after the block, as usual
seen["after"] = "pandas" in sys.modules
print(json.dumps(seen))
"""
    assert run_python(code) == {"other thread": True, "in block": "pandas", "after": True}


def test_a_monai_loaded_already_is_returned_as_it_is() -> None:
    code = r"""
import json, sys
import monai.networks.nets
from containers.common.monai_import import import_networks_only
nets = import_networks_only()
print(json.dumps({"unet": hasattr(nets, "UNet"), "ignite": "ignite" in sys.modules}))
"""
    assert run_python(code) == {"unet": True, "ignite": True}
