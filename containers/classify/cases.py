"""The sessions a classifier learns from: each labelled session's image scan, read as a volume,
and the preprocessing that brings every volume to the network's input.

Sessions and classes come from XNAT (`containers.common.class_labels`: a session field or a
project CSV resource); each session's scan is the one the scan rule picks (as infer's, with
Container Service's scan JSON), its DICOM read in the mounted project archive where XNAT's
catalog puts it, else downloaded. A labelled session whose scan cannot be chosen is left out
and listed with the reason, as an unlabelled one is.

`Preprocessing` is the bundle's input contract: reorient to RAS, resample to `spacing` mm,
clip to the CT window and scale to [0, 1], crop to the body (`crop="body"`: the box of the
voxels above the window's floor, MONAI's `CropForeground`; air is below any CT window), then
pad or crop about the centre to `roi_size` (MONAI's `ResizeWithPadOrCrop`). The input is thus centred on the patient, not on
the scanner's field of view, and holds no air a field of view wider than the body would add.
`crop="centre"` (bundles written before the body crop) skips the body crop. The bundle's
`inference.json` spells the same steps as MONAI transforms.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from containers.common.bundle_spec import CTWindow
from containers.common.class_labels import (
    ClassLabels,
    LabelledSession,
    LabelSource,
    Unlabelled,
    read_class_labels,
)
from containers.common.resample import plan_grid, to_model_grid
from containers.common.resource_files import resource_folder
from containers.train.scan_choice import choose_scan
from xnat_plugin.client import paths
from xnat_plugin.client.connection import XnatClient
from xnat_plugin.commands.scan_rule import IMAGE_RESOURCE, ScanRule

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ORIENTATION = "RAS"
CROPS = ("body", "centre")


@dataclass
class ClassificationCase:
    """One session's image (on the scan's grid) and its class."""

    session_label: str
    session_uri: str
    subject: str
    site: str
    label: str  # the class name
    image: np.ndarray = field(repr=False)  # float32 (i, j, k), Hounsfield units
    affine: np.ndarray = field(repr=False)  # voxel → RAS mm
    checksum: str = ""  # sha256 over the scan's DICOM files

    @property
    def ras_spacing(self) -> tuple[float, float, float]:
        """Voxel spacing along the RAS-reoriented axes (so medians compare like with like)."""
        import nibabel.orientations as nio

        spacing = np.linalg.norm(self.affine[:3, :3], axis=0)
        out = [0.0, 0.0, 0.0]
        for axis, (new_axis, _flip) in enumerate(nio.io_orientation(self.affine)):
            out[int(new_axis)] = float(spacing[axis])
        return (out[0], out[1], out[2])


@dataclass(frozen=True)
class Preprocessing:
    spacing: tuple[float, float, float]
    roi_size: tuple[int, int, int]
    window: CTWindow
    orientation: str = ORIENTATION
    crop: str = "body"  # one of CROPS

    def as_dict(self) -> dict[str, Any]:
        about = (
            "the body's box (voxels above the window's floor, MONAI CropForeground), then pad "
            "or crop about its centre (MONAI ResizeWithPadOrCrop)"
            if self.crop == "body"
            else "pad or crop about the centre (MONAI ResizeWithPadOrCrop)"
        )
        return {
            "orientation": self.orientation,
            "spacing_mm": list(self.spacing),
            "intensity_window": {"a_min": self.window.a_min, "a_max": self.window.a_max},
            "roi_size": list(self.roi_size),
            "crop_to": self.crop,
            "crop": about,
        }

    def apply(self, image: np.ndarray, affine: np.ndarray) -> torch.Tensor:
        """(1, X, Y, Z) float32 network input from a volume on its scan grid."""
        return self.apply_with_affine(image, affine)[0]

    def apply_with_affine(
        self, image: np.ndarray, affine: np.ndarray
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The network input (1, X, Y, Z) float32 and its grid's voxel → RAS affine (after the
        resampling, the body crop and the pad or crop: MONAI moves a MetaTensor's affine)."""
        import torch
        from monai.data import MetaTensor
        from monai.transforms import CropForeground, ResizeWithPadOrCrop

        mapping = plan_grid(image.shape, affine, self.spacing, self.orientation)
        hounsfield = to_model_grid(image, mapping)[0].numpy()
        # On the scan's own grid the resampling is a view of `image`: never scale it in place.
        in_place = not np.shares_memory(hounsfield, image)
        scaled = MetaTensor(
            torch.from_numpy(self.window.apply(hounsfield, in_place=in_place)),
            affine=torch.as_tensor(mapping.model_affine),
        )
        if self.crop == "body":
            scaled = CropForeground(allow_smaller=True)(scaled)  # MONAI's select_fn: x > 0
        resized = ResizeWithPadOrCrop(list(self.roi_size))(scaled)
        assert isinstance(resized, MetaTensor)
        grid_affine = np.asarray(torch.as_tensor(resized.affine), dtype=np.float64)
        return torch.as_tensor(resized.as_tensor(), dtype=torch.float32).contiguous(), grid_affine


def median_spacing(cases: Sequence[ClassificationCase]) -> tuple[float, float, float]:
    spacing = np.median(np.array([c.ras_spacing for c in cases]), axis=0)
    return (float(round(spacing[0], 3)), float(round(spacing[1], 3)), float(round(spacing[2], 3)))


@dataclass(frozen=True)
class CaseCandidate:
    """A labelled session and the folder of its chosen scan's DICOM, before reading."""

    entry: LabelledSession
    dicom_dir: Path


def candidates_from_xnat(
    client: XnatClient,
    project: str,
    source: LabelSource,
    rule: ScanRule,
    scratch: Path,
    project_dir: Path | None = None,
) -> tuple[ClassLabels, list[CaseCandidate]]:
    """The project's classes and each usable session's scan; sessions without a class or a
    scan are in the returned labels' `unlabelled`, with the reason, and not in `labelled`."""
    from xnat_plugin.runner.xnat_objects import XnatObjectLoader

    labels = read_class_labels(client, project, source)
    objects = XnatObjectLoader(client, with_files=False)
    kept: list[LabelledSession] = []
    candidates: list[CaseCandidate] = []
    for entry in labels.labelled:
        session = entry.session
        scans = objects.experiment(session.id).json.get("scans", [])
        choice = choose_scan(scans, rule)
        if choice.scan is None:
            labels.unlabelled.append(Unlabelled(session.label, choice.reason))
            continue
        scan_id = str(choice.scan["id"])
        dicom_dir = resource_folder(
            client,
            paths.scan(session.id, scan_id),
            IMAGE_RESOURCE,
            project_dir,
            scratch / session.id / "scans" / scan_id,
        )
        kept.append(entry)
        candidates.append(CaseCandidate(entry, dicom_dir))
    labels.labelled = kept
    return labels, candidates


def read_case(candidate: CaseCandidate) -> ClassificationCase:
    from containers.common.dicom_series import read_series
    from containers.common.provenance import sha256_of_files

    session = candidate.entry.session
    series = read_series(candidate.dicom_dir)
    return ClassificationCase(
        session_label=session.label,
        session_uri=session.uri,
        subject=session.subject_label or session.subject_id or session.label,
        site=session.site,
        label=candidate.entry.label,
        image=np.asarray(series.volume, dtype=np.float32),
        affine=np.asarray(series.affine, dtype=np.float64),
        checksum=sha256_of_files(series.paths),
    )
