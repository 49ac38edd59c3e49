"""CT-like abdominal phantoms: a body in air on a table, with liver, spleen and kidneys.

Everything is defined in millimetres around the patient, then sampled on the site's grid, so the
same subject looks the same on every scanner, only sampled differently. The organs' densities are
close (about 60, 50 and 35 HU) and the texture noise (σ 15–20 HU) and a smooth bias field blur
them further: a threshold cannot separate them; shape, position and context can.

Deterministic: the same `seed` gives the same anatomy and noise, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from xnat_plugin.sandbox.seed.organs import LABEL_NAMES
from xnat_plugin.sandbox.seed.sites import Site, site_named

AIR_HU = -1000.0
FAT_HU = -100.0
MUSCLE_HU = 40.0
ABDOMEN_HU = -15.0  # bowel and mesenteric fat, averaged
BONE_HU = 500.0
MARROW_HU = 180.0
AORTA_HU = 45.0
TABLE_HU = 150.0
HU_RANGE = (-1024, 3071)


@dataclass(frozen=True)
class Phantom:
    """One synthetic CT volume and its reference labels on the same grid."""

    hu: np.ndarray  # int16, (z, y, x): z from feet to head, y front to back, x right to left
    labels: np.ndarray  # uint8, (z, y, x), values from `label_names`
    spacing_mm: tuple[float, float, float]  # (z, y, x)
    origin_mm: tuple[float, float, float]  # patient LPS (x, y, z) of voxel (0, 0, 0)
    site: Site
    seed: int
    label_names: dict[int, str] = field(default_factory=lambda: dict(LABEL_NAMES))
    body_part: str = "ABDOMEN"  # DICOM BodyPartExamined, and the series descriptions' prefix

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.hu.shape[0]), int(self.hu.shape[1]), int(self.hu.shape[2]))


@dataclass(frozen=True)
class _Ellipsoid:
    center: np.ndarray  # mm (x, y, z)
    semi_axes: np.ndarray  # mm (x, y, z)
    angle: float  # rotation about z, radians
    wobble: np.ndarray  # amplitudes of the shape deformation
    phases: np.ndarray

    def inside(self, x: np.ndarray, y: np.ndarray, z: float) -> np.ndarray:
        """Mask of the grid points (x, y: meshgrids, 'xy' indexing) inside the shape at z."""
        mask = np.zeros(x.shape, dtype=bool)
        # The bumps stretch the radius by at most 1 / (1 - sum(wobble)): look only in that box.
        reach = 1.0 / (1.0 - float(self.wobble.sum()))
        a, b, c = self.semi_axes
        dz = z - self.center[2]
        if abs(dz) > c * reach:
            return mask
        half = max(a, b) * reach
        columns = np.flatnonzero(np.abs(x[0] - self.center[0]) <= half)
        rows = np.flatnonzero(np.abs(y[:, 0] - self.center[1]) <= half)
        if columns.size == 0 or rows.size == 0:
            return mask
        window = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
        dx, dy = x[window] - self.center[0], y[window] - self.center[1]
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        radius = np.sqrt((u / a) ** 2 + (v / b) ** 2 + (dz / c) ** 2)
        azimuth = np.arctan2(v / b, u / a)
        elevation = np.arctan2(dz / c, np.sqrt((u / a) ** 2 + (v / b) ** 2))
        w, p = self.wobble, self.phases
        bumps = (
            w[0] * np.cos(2 * azimuth + p[0])
            + w[1] * np.cos(3 * azimuth + p[1])
            + w[2] * np.sin(2 * elevation + p[2])
        )
        mask[window] = radius * (1.0 + bumps) <= 1.0
        return mask


@dataclass(frozen=True)
class _Anatomy:
    body_semi_axes: tuple[float, float]  # mm (x, y) at the middle of the volume
    fat_mm: float
    muscle_mm: float
    organs: list[tuple[int, _Ellipsoid]]  # in painting priority order
    organ_hu: dict[int, float]
    noise_sigma: float
    bias_coefficients: np.ndarray
    patient_offset: np.ndarray  # where the patient centre sits in scanner coordinates


def make_phantom(
    seed: int, site: Site | str, *, matrix: int | None = None, slices: int | None = None
) -> Phantom:
    """The subject of `seed` as scanned at `site` (optionally on a bigger grid)."""
    site = site_named(site) if isinstance(site, str) else site
    if matrix is not None or slices is not None:
        site = site.with_grid(matrix, slices)
    rng = np.random.default_rng(seed)
    anatomy = _random_anatomy(rng)
    n = site.matrix
    step_xy, step_z = site.pixel_spacing_mm, site.slice_thickness_mm
    xs = (np.arange(n) - (n - 1) / 2) * step_xy
    zs = (np.arange(site.slices) - (site.slices - 1) / 2) * step_z
    x, y = np.meshgrid(xs, xs, indexing="xy")  # x along columns, y along rows
    hu = np.empty((site.slices, n, n), dtype=np.int16)
    labels = np.zeros((site.slices, n, n), dtype=np.uint8)
    half_extent = np.array([xs[-1] or 1.0, xs[-1] or 1.0, zs[-1] or 1.0])
    noise_rng = np.random.default_rng([seed, n, site.slices])
    for k, z in enumerate(zs):
        slice_hu, slice_labels = _slice(anatomy, x, y, float(z), half_extent, noise_rng)
        hu[k] = np.clip(np.rint(slice_hu), *HU_RANGE).astype(np.int16)
        labels[k] = slice_labels
    origin = (
        float(anatomy.patient_offset[0] + xs[0]),
        float(anatomy.patient_offset[1] + xs[0]),
        float(anatomy.patient_offset[2] + zs[0]),
    )
    return Phantom(
        hu=hu,
        labels=labels,
        spacing_mm=(float(step_z), float(step_xy), float(step_xy)),
        origin_mm=origin,
        site=site,
        seed=seed,
    )


def _random_anatomy(rng: np.random.Generator) -> _Anatomy:
    a0, b0 = 135.0 * rng.uniform(0.9, 1.08), 100.0 * rng.uniform(0.9, 1.08)

    def organ(center: tuple[float, float, float], semi: tuple[float, float, float]) -> _Ellipsoid:
        return _Ellipsoid(
            center=np.array(center) + rng.normal(0.0, 5.0, 3),
            semi_axes=np.array(semi) * rng.uniform(0.85, 1.15, 3),
            angle=float(rng.uniform(-0.25, 0.25)),
            wobble=rng.uniform(0.0, 0.08, 3),
            phases=rng.uniform(0.0, 2 * math.pi, 3),
        )

    # Patient LPS: the liver on the right (-x), the spleen on the left (+x) and back (+y).
    organs = [
        (1, organ((-0.40 * a0, -0.05 * b0, 35.0), (0.42 * a0, 0.55 * b0, 70.0))),
        (2, organ((0.55 * a0, 0.30 * b0, 45.0), (0.17 * a0, 0.33 * b0, 45.0))),
        (3, organ((-0.33 * a0, 0.50 * b0, -35.0), (0.15 * a0, 0.25 * b0, 45.0))),
        (3, organ((0.33 * a0, 0.50 * b0, -25.0), (0.15 * a0, 0.25 * b0, 45.0))),
    ]
    return _Anatomy(
        body_semi_axes=(a0, b0),
        fat_mm=float(rng.uniform(8.0, 18.0)),
        muscle_mm=float(rng.uniform(6.0, 10.0)),
        organs=organs,
        organ_hu={
            1: 60.0 + rng.normal(0, 4),
            2: 50.0 + rng.normal(0, 3),
            3: 35.0 + rng.normal(0, 3),
        },
        noise_sigma=float(rng.uniform(15.0, 20.0)),
        bias_coefficients=_bias_coefficients(rng),
        patient_offset=np.array([rng.normal(0, 4), rng.normal(-20, 4), -400.0 + rng.normal(0, 20)]),
    )


def _bias_coefficients(rng: np.random.Generator) -> np.ndarray:
    """A smooth field of at most 6-12 HU anywhere (normalised coordinates are within ±1)."""
    raw = rng.uniform(-1.0, 1.0, 5)
    return raw / np.abs(raw).sum() * rng.uniform(6.0, 12.0)


def _slice(
    anatomy: _Anatomy,
    x: np.ndarray,
    y: np.ndarray,
    z: float,
    half_extent: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    a0, b0 = anatomy.body_semi_axes
    taper = 1.0 + 0.04 * math.sin(z / 70.0)
    a, b = a0 * taper, b0 * taper

    def ellipse(semi_x: float, semi_y: float) -> np.ndarray:
        return (x / semi_x) ** 2 + (y / semi_y) ** 2 <= 1.0

    body = ellipse(a, b)
    under_fat = ellipse(a - anatomy.fat_mm, b - anatomy.fat_mm)
    wall = anatomy.fat_mm + anatomy.muscle_mm
    abdomen = ellipse(a - wall, b - wall)
    hu = np.full(x.shape, AIR_HU)
    hu[body] = FAT_HU
    hu[under_fat] = MUSCLE_HU
    hu[abdomen] = ABDOMEN_HU
    spine_y = b - wall - 18.0
    hu[(x**2 + (y - spine_y) ** 2) <= 14.0**2] = BONE_HU
    hu[(x**2 + (y - spine_y) ** 2) <= 7.0**2] = MARROW_HU
    hu[((x - 12.0) ** 2 + (y - spine_y + 30.0) ** 2) <= 10.0**2] = AORTA_HU
    table = (y >= b0 + 6.0) & (y <= b0 + 14.0) & (np.abs(x) <= 0.9 * float(np.max(x)))
    hu[table] = TABLE_HU

    labels = np.zeros(x.shape, dtype=np.uint8)
    for value, shape in anatomy.organs:
        paint = shape.inside(x, y, z) & abdomen & (labels == 0)
        labels[paint] = value
    for value, density in anatomy.organ_hu.items():
        hu[labels == value] = density

    inside = body | table
    xn, yn, zn = x / half_extent[0], y / half_extent[1], z / half_extent[2]
    c = anatomy.bias_coefficients
    bias = c[0] * xn + c[1] * yn + c[2] * zn + c[3] * xn * yn + c[4] * (xn**2 - 0.5)
    texture = _correlated_noise(rng, x.shape) * anatomy.noise_sigma
    hu = np.where(inside, hu + bias + texture, hu + texture * 0.3)
    return hu, labels


def _correlated_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-σ noise with a short in-plane correlation, like reconstructed CT texture."""
    white = rng.standard_normal(shape)
    smooth = (
        white
        + np.roll(white, 1, 0)
        + np.roll(white, -1, 0)
        + np.roll(white, 1, 1)
        + np.roll(white, -1, 1)
    )
    return smooth / math.sqrt(5.0)
