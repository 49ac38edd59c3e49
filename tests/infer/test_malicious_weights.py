"""A bundle's weights are data: a `model.pt` whose pickle would run code when loaded is refused
with one line, and its code never runs (`torch.load(..., weights_only=True)` in
`containers.common.bundle.load_bundle`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from containers.common.bundle import load_bundle
from tests.bundles import tiny_bundle
from xnat_plugin.errors import UserError


class _Payload:
    """Unpickling this calls `Path.touch(marker)`: code, not weights."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_weights_whose_pickle_runs_code_are_refused_and_the_code_never_runs(
    tmp_path: Path,
) -> None:
    import torch

    bundle = tiny_bundle(tmp_path)
    marker = tmp_path / "marker"
    weights = bundle / "models" / "model.pt"
    torch.save({"weight": _Payload(marker)}, weights)
    with pytest.raises(UserError) as refused:
        load_bundle(bundle)
    assert "only plain state dicts" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert not marker.exists()
    # the payload is live: a loader that trusts the pickle runs it
    torch.load(weights, map_location="cpu", weights_only=False)
    assert marker.exists()
