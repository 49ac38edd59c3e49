"""Why a classifier decided: a Grad-CAM map over the scan, as a QC picture and as DICOM.

Grad-CAM (`monai.visualize.GradCAM`) weighs the activations of one convolutional layer by the
gradient of the predicted class's score and keeps the positive part; MONAI upsamples it to the
network input and scales it to [0, 1]. The layer is the network's last convolution, the one
nearest the decision that still has a spatial grid:

    DenseNet121     features.denseblock4.denselayer16.layers.conv2
    ResNet18        layer4.1.conv2
    EfficientNetB0  _conv_head

(for any other network: the last `Conv3d` in module order; `--explain-layer` names another
convolution, e.g. a finer one: the last convolution sees the input at 1/32 of its
resolution). With a fold ensemble the map is
the mean of the members' maps. The map lives on the network's input grid; `to_scan_grid` brings
it onto the source series' voxels through both grids' voxel → RAS affines, so the picture and
the DICOM secondary capture lie over the slices of the scan a reader opens.

`write_explanation_png` draws the slices that matter (those holding the map's peak region) with
the map over the scan; `write_explanation_dicom` writes the same slices as a DICOM Secondary
Capture series (RGB, one instance per slice) in the source study, each instance naming its
source slice (Source Image Sequence) and the source series (Referenced Series Sequence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from containers.common.dicom_series import Series

# The last convolution of each registered network (containers.classify.networks).
LAST_CONV_LAYER = {
    "DenseNet121": "features.denseblock4.denselayer16.layers.conv2",
    "ResNet18": "layer4.1.conv2",
    "EfficientNetB0": "_conv_head",
}
# A slice matters when the map reaches this share of its peak in it.
SLICE_SHARE = 0.5
MAX_SLICES = 9
_ALPHA = 0.5


def target_layer(
    network: torch.nn.Module, name: str | None = None, requested: str | None = None
) -> str:
    """The layer Grad-CAM reads: `requested` (a module name of the network), else the
    registry's for network `name`, else the last Conv3d."""
    import torch

    from xnat_plugin.errors import UserError

    modules = dict(network.named_modules())
    if requested:
        if requested not in modules or not isinstance(modules[requested], torch.nn.Conv3d):
            convolutions = [k for k, m in modules.items() if isinstance(m, torch.nn.Conv3d)]
            raise UserError(
                f"--explain-layer {requested!r} is no convolution of the {name or 'model'} "
                f"network: choose one of its Conv3d modules, e.g. {', '.join(convolutions[-3:])}"
            )
        return requested
    if name in LAST_CONV_LAYER and LAST_CONV_LAYER[name] in modules:
        return LAST_CONV_LAYER[name]
    convolutions = [k for k, m in modules.items() if isinstance(m, torch.nn.Conv3d)]
    if not convolutions:
        raise ValueError("the network has no 3-D convolution for Grad-CAM to read")
    return convolutions[-1]


def grad_cam(
    networks: Sequence[torch.nn.Module], image: torch.Tensor, class_index: int, layer: str
) -> np.ndarray:
    """The mean Grad-CAM of `networks` for class `class_index` on `image` (1, X, Y, Z): a
    float32 (X, Y, Z) map in [0, 1] on the network's input grid."""
    import torch
    from monai.visualize import GradCAM

    maps = []
    batch = image[None].detach().clone()
    for network in networks:
        cam = GradCAM(nn_module=network, target_layers=layer)
        with torch.enable_grad():
            result = cam(batch.requires_grad_(True), class_idx=class_index)
        maps.append(torch.as_tensor(result).detach().float()[0, 0].cpu().numpy())
    mean = np.mean(maps, axis=0).astype(np.float32)
    peak = float(mean.max())
    return mean / peak if peak > 0 else mean


def to_scan_grid(
    cam: np.ndarray,
    model_affine: np.ndarray,
    scan_affine: np.ndarray,
    scan_shape: tuple[int, int, int],
) -> np.ndarray:
    """`cam` (on the grid of `model_affine`) resampled trilinearly onto the scan's voxels;
    0 where the network saw nothing (outside its cropped field of view)."""
    from scipy import ndimage

    scan_to_model = np.linalg.inv(model_affine) @ scan_affine
    return ndimage.affine_transform(
        cam.astype(np.float32),
        scan_to_model[:3, :3],
        offset=scan_to_model[:3, 3],
        output_shape=scan_shape,
        order=1,
        mode="constant",
        cval=0.0,
    ).astype(np.float32)


@dataclass(frozen=True)
class Peak:
    voxel: tuple[int, int, int]  # scan voxel (i, j, k)
    ras_mm: tuple[float, float, float]
    slices: list[int]  # the slices that matter (k), peak slice first


def find_peak(cam_on_scan: np.ndarray, scan_affine: np.ndarray) -> Peak:
    """Where the map peaks on the scan and the axial slices that matter (peak slice first,
    then by closeness)."""
    flat = int(np.argmax(cam_on_scan))
    i, j, k = (int(v) for v in np.unravel_index(flat, cam_on_scan.shape))
    ras = scan_affine @ np.array([i, j, k, 1.0])
    per_slice = cam_on_scan.max(axis=(0, 1))
    peak = float(per_slice.max())
    wanted = [
        s for s in range(cam_on_scan.shape[2]) if peak > 0 and per_slice[s] >= SLICE_SHARE * peak
    ]
    wanted.sort(key=lambda s: (abs(s - k), s))
    chosen = wanted[:MAX_SLICES] or [k]
    return Peak((i, j, k), (float(ras[0]), float(ras[1]), float(ras[2])), chosen)


def heat_colours(values: np.ndarray) -> np.ndarray:
    """float (…) in [0, 1] → uint8 RGB (…, 3): black-red-yellow-white ("hot")."""
    v = np.clip(values, 0.0, 1.0)
    rgb = np.stack(
        [np.clip(3 * v, 0, 1), np.clip(3 * v - 1, 0, 1), np.clip(3 * v - 2, 0, 1)], axis=-1
    )
    return np.rint(rgb * 255).astype(np.uint8)


def overlay(grey: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """uint8 RGB: the grey plane with the map blended in where it is at least a fifth of its
    range (so the anatomy stays readable elsewhere)."""
    rgb = np.repeat(grey.astype(np.float32)[..., None], 3, axis=-1)
    weight = (_ALPHA * np.clip((cam - 0.2) / 0.8, 0, 1))[..., None]
    blended = (1 - weight) * rgb + weight * heat_colours(cam).astype(np.float32)
    return np.rint(blended).astype(np.uint8)


def axial_plane(volume: np.ndarray, k: int) -> np.ndarray:
    """Slice k as the DICOM file stores it: rows along j, columns along i."""
    return np.ascontiguousarray(volume[:, :, k].T)


def write_explanation_png(
    path: Path,
    grey: np.ndarray,
    cam_on_scan: np.ndarray,
    peak: Peak,
    spacing: tuple[float, float, float],
    *,
    title: str,
    caption: str,
) -> Path:
    """PNG: the slices that matter (up to 9, in slice order) with the map over the scan."""
    from PIL import Image, ImageDraw, ImageFont

    panel = 300
    margin, header = 16, 64
    slices = sorted(peak.slices)
    columns = min(3, len(slices))
    rows = (len(slices) + columns - 1) // columns
    width = columns * (panel + margin) + margin
    height = header + rows * (panel + margin + 20) + margin
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=16)
    small = ImageFont.load_default(size=13)
    draw.text((width / 2, 20), title, fill="black", font=font, anchor="mm")
    draw.text((width / 2, 46), caption, fill="black", font=small, anchor="mm")
    for n, k in enumerate(slices):
        plane = overlay(axial_plane(grey, k), axial_plane(cam_on_scan, k))
        rows_mm, columns_mm = plane.shape[0] * spacing[1], plane.shape[1] * spacing[0]
        scale = panel / max(rows_mm, columns_mm)
        size = (max(1, round(columns_mm * scale)), max(1, round(rows_mm * scale)))
        image = Image.fromarray(plane).resize(size, Image.Resampling.BILINEAR)
        left = margin + (n % columns) * (panel + margin)
        top = header + (n // columns) * (panel + margin + 20)
        canvas.paste(image, (left + (panel - size[0]) // 2, top + 20 + (panel - size[1]) // 2))
        label = f"slice {k + 1}" + (" (peak)" if k == peak.voxel[2] else "")
        draw.text((left + panel / 2, top + 14), label, fill="black", font=small, anchor="ms")
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, format="PNG", compress_level=1)
    return path


def write_explanation_dicom(
    folder: Path,
    series: Series,
    grey: np.ndarray,
    cam_on_scan: np.ndarray,
    peak: Peak,
    *,
    description: str,
    series_uid: str | None = None,
) -> list[Path]:
    """The slices that matter as a DICOM Secondary Capture series (RGB), one instance per
    slice, in the source study and frame of reference; each names its source slice and series.
    Returns the files, in slice order."""
    import highdicom as hd
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or hd.UID()
    written = []
    for number, k in enumerate(sorted(peak.slices), start=1):
        source = pydicom.dcmread(series.paths[k], stop_before_pixels=True)
        pixels = overlay(axial_plane(grey, k), axial_plane(cam_on_scan, k))
        image = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source,
            pixel_array=pixels,
            photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
            bits_allocated=8,
            coordinate_system=hd.CoordinateSystemNames.PATIENT,
            series_instance_uid=series_uid,
            series_number=9000 + (int(getattr(source, "SeriesNumber", 0) or 0) % 1000),
            sop_instance_uid=hd.UID(),
            instance_number=number,
            manufacturer="xnat-monai",
            # highdicom annotates int; DICOM's Pixel Spacing is decimal (mm).
            pixel_spacing=(float(series.spacing[1]), float(series.spacing[0])),  # type: ignore[arg-type]
            patient_orientation=_patient_orientation(series.orientation),
        )
        image.SeriesDescription = description[:64]
        image.ImageType = ["DERIVED", "SECONDARY"]
        image.FrameOfReferenceUID = series.frame_of_reference_uid
        # The geometry of the source slice, so a viewer can place it (and link it) in 3-D.
        image.ImagePositionPatient = list(source.ImagePositionPatient)
        image.ImageOrientationPatient = list(source.ImageOrientationPatient)
        image.SliceLocation = getattr(source, "SliceLocation", float(series.positions[k][2]))
        reference = Dataset()
        reference.ReferencedSOPClassUID = source.SOPClassUID
        reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
        image.SourceImageSequence = DicomSequence([reference])
        referenced_series = Dataset()
        referenced_series.SeriesInstanceUID = series.series_instance_uid
        instance = Dataset()
        instance.ReferencedSOPClassUID = source.SOPClassUID
        instance.ReferencedSOPInstanceUID = source.SOPInstanceUID
        referenced_series.ReferencedInstanceSequence = DicomSequence([instance])
        image.ReferencedSeriesSequence = DicomSequence([referenced_series])
        path = folder / f"gradcam_{number:03d}.dcm"
        image.save_as(path)
        written.append(path)
    return written


def _patient_orientation(orientation: Sequence[float]) -> tuple[str, str]:
    """DICOM Patient Orientation (row and column directions as L/R, A/P, H/F letters)."""

    def letters(vector: Sequence[float]) -> str:
        names = (("L", "R"), ("P", "A"), ("H", "F"))
        order = np.argsort(-np.abs(np.asarray(vector)))
        text = ""
        for axis in order:
            if abs(vector[axis]) > 1e-3:
                text += names[axis][0] if vector[axis] > 0 else names[axis][1]
        return text[:3] or "L"

    row, column = orientation[:3], orientation[3:6]
    return (letters(row), letters(column))
