"""Tiny random-weight bundles for tests of the plumbing (not of accuracy)."""

from __future__ import annotations

from pathlib import Path

from containers.common.bundle import BundleSpec, NetworkSpec, save_bundle

LABELS = {"liver": 1, "spleen": 2, "kidney": 3}


def tiny_bundle(
    folder: Path,
    *,
    name: str = "tiny",
    folds: int = 1,
    patch_size: tuple[int, int, int] = (32, 32, 16),
    spacing: tuple[float, float, float] = (4.0, 4.0, 5.0),
) -> Path:
    """`folder/name`: a 2-level UNet over liver, spleen and kidney, `folds` random members."""
    spec = BundleSpec(
        model_name=name,
        version="0.0.1",
        network=NetworkSpec(name="UNet", kwargs={"channels": [4, 8], "strides": [2]}),
        labels=LABELS,
        patch_size=patch_size,
        spacing=spacing,
    )
    states = [spec.build_network().state_dict() for _ in range(folds)]
    return save_bundle(folder / name, spec, states)
