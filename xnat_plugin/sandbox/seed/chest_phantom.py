"""CT-like chest phantoms with lung nodules: the seeded data of the detection task.

A body in air on a table: fat, muscle with ribs, the spine, the aorta, the heart and
mediastinum, and two lungs (about -850 HU) crossed by vessels (blood, about 40 HU, 1-3 mm
radius, from each hilum outwards). In the lungs sit 0 to 5 nodules of 4 to 30 mm (log-uniform:
small ones are common), spherical or lobulated, most of them solid (-20 to 60 HU), some larger
ones sub-solid (-550 to -350 HU). A nodule's voxels carry its partial volume (the fraction of
each voxel inside it, sampled 4×4×4 per voxel), so a 4 mm nodule on 5 mm slices is a faint
spot, as on a real scanner, and vessels are what a threshold cannot tell from nodules.

The reference label (1, `nodule`) marks voxels at least half inside a nodule, and at least the
most covered voxel of each, so every nodule has a reference a reader would have drawn. Nodules
keep 5 mm apart, so each is one connected component of the reference.

Everything is defined in millimetres around the patient and sampled on the site's grid
(`sites`), like the abdominal phantom; the same seed gives the same subject, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from xnat_plugin.sandbox.seed.phantom import (
    AIR_HU,
    AORTA_HU,
    BONE_HU,
    FAT_HU,
    HU_RANGE,
    MARROW_HU,
    MUSCLE_HU,
    TABLE_HU,
    Phantom,
    _bias_coefficients,
    _correlated_noise,
)
from xnat_plugin.sandbox.seed.sites import Site, site_named

LUNG_HU = -850.0
HEART_HU = 40.0
VESSEL_HU = 40.0
RIB_HU = 400.0
NODULE_LABEL = 1
NODULE_LABEL_NAMES = {NODULE_LABEL: "nodule"}
MIN_DIAMETER_MM, MAX_DIAMETER_MM = 4.0, 30.0
MAX_NODULES = 5
NODULE_GAP_MM = 5.0
SUPERSAMPLE = 4


@dataclass(frozen=True)
class Nodule:
    """One seeded nodule, in patient coordinates (LPS mm)."""

    centre_mm: tuple[float, float, float]
    diameter_mm: float
    hu: float
    lobulation: tuple[float, float, float]  # radius modulation amplitudes (0: a sphere)
    phases: tuple[float, float, float]

    @property
    def solid(self) -> bool:
        return self.hu > -200

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Whether points (patient mm, any matching shapes) lie inside the nodule."""
        dx, dy, dz = x - self.centre_mm[0], y - self.centre_mm[1], z - self.centre_mm[2]
        radius = np.sqrt(dx**2 + dy**2 + dz**2)
        azimuth = np.arctan2(dy, dx)
        elevation = np.arctan2(dz, np.sqrt(dx**2 + dy**2))
        w, p = self.lobulation, self.phases
        bumps = (
            w[0] * np.cos(3 * azimuth + p[0])
            + w[1] * np.cos(5 * azimuth + p[1])
            + w[2] * np.sin(3 * elevation + p[2])
        )
        return radius <= self.diameter_mm / 2 * (1.0 + bumps)


@dataclass(frozen=True)
class ChestPhantom(Phantom):
    nodules: tuple[Nodule, ...] = ()
    body_part: str = "CHEST"


@dataclass(frozen=True)
class _Vessel:
    start: np.ndarray  # mm (x, y, z), patient-centred
    end: np.ndarray
    radius: float


@dataclass(frozen=True)
class _Chest:
    body_semi_axes: tuple[float, float]
    fat_mm: float
    muscle_mm: float
    lung_centres: tuple[np.ndarray, np.ndarray]  # right (-x), left (+x); patient-centred mm
    lung_semi_axes: tuple[np.ndarray, np.ndarray]
    heart_centre: np.ndarray
    heart_semi_axes: np.ndarray
    vessels: list[_Vessel]
    rib_period_mm: float
    rib_phase: float
    noise_sigma: float
    bias_coefficients: np.ndarray
    patient_offset: np.ndarray

    @property
    def wall_mm(self) -> float:
        return self.fat_mm + self.muscle_mm

    @property
    def spine_y(self) -> float:
        return self.body_semi_axes[1] - self.wall_mm - 20.0

    def in_lung(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float) -> np.ndarray:
        """Lung parenchyma (patient-centred mm): inside a lung, the thorax, and outside the
        heart, the spine and the aorta."""
        a, b = self.body_semi_axes
        inner = (x / (a - self.wall_mm)) ** 2 + (y / (b - self.wall_mm)) ** 2 <= 1.0
        lungs = np.zeros(np.broadcast(x, y, z).shape, dtype=bool)
        for centre, semi in zip(self.lung_centres, self.lung_semi_axes, strict=True):
            lungs |= (
                ((x - centre[0]) / semi[0]) ** 2
                + ((y - centre[1]) / semi[1]) ** 2
                + ((z - centre[2]) / semi[2]) ** 2
            ) <= 1.0
        heart = (
            ((x - self.heart_centre[0]) / self.heart_semi_axes[0]) ** 2
            + ((y - self.heart_centre[1]) / self.heart_semi_axes[1]) ** 2
            + ((z - self.heart_centre[2]) / self.heart_semi_axes[2]) ** 2
        ) <= 1.0
        spine = (x**2 + (y - self.spine_y) ** 2) <= 22.0**2
        aorta = ((x - 15.0) ** 2 + (y - self.spine_y + 28.0) ** 2) <= 16.0**2
        return lungs & inner & ~heart & ~spine & ~aorta


def make_chest_phantom(
    seed: int, site: Site | str, *, matrix: int | None = None, slices: int | None = None
) -> ChestPhantom:
    """The chest of subject `seed` as scanned at `site`, with its nodules."""
    site = site_named(site) if isinstance(site, str) else site
    if matrix is not None or slices is not None:
        site = site.with_grid(matrix, slices)
    rng = np.random.default_rng([seed, 14])
    chest = _random_chest(rng)
    n = site.matrix
    step_xy, step_z = site.pixel_spacing_mm, site.slice_thickness_mm
    xs = (np.arange(n) - (n - 1) / 2) * step_xy
    zs = (np.arange(site.slices) - (site.slices - 1) / 2) * step_z
    nodules = _random_nodules(rng, chest, z_range=(float(zs[0]), float(zs[-1])))
    x, y = np.meshgrid(xs, xs, indexing="xy")
    hu = np.empty((site.slices, n, n), dtype=np.float32)
    half_extent = np.array([xs[-1] or 1.0, xs[-1] or 1.0, zs[-1] or 1.0])
    noise_rng = np.random.default_rng([seed, n, site.slices, 14])
    body = np.empty((site.slices, n, n), dtype=bool)
    for k, z in enumerate(zs):
        hu[k], body[k] = _slice(chest, x, y, float(z))
    labels = np.zeros(hu.shape, dtype=np.uint8)
    for nodule in nodules:
        _paint_nodule(hu, labels, nodule, xs, zs)
    for k, z in enumerate(zs):
        xn, yn, zn = x / half_extent[0], y / half_extent[1], z / half_extent[2]
        c = chest.bias_coefficients
        bias = c[0] * xn + c[1] * yn + c[2] * zn + c[3] * xn * yn + c[4] * (xn**2 - 0.5)
        texture = _correlated_noise(noise_rng, x.shape) * chest.noise_sigma
        hu[k] = np.where(body[k], hu[k] + bias + texture, hu[k] + texture * 0.3)
    offset = chest.patient_offset
    origin = (float(offset[0] + xs[0]), float(offset[1] + xs[0]), float(offset[2] + zs[0]))
    placed = tuple(
        Nodule(
            centre_mm=tuple(float(c + o) for c, o in zip(v.centre_mm, offset, strict=True)),  # type: ignore[arg-type]
            diameter_mm=v.diameter_mm,
            hu=v.hu,
            lobulation=v.lobulation,
            phases=v.phases,
        )
        for v in nodules
    )
    return ChestPhantom(
        hu=np.clip(np.rint(hu), *HU_RANGE).astype(np.int16),
        labels=labels,
        spacing_mm=(float(step_z), float(step_xy), float(step_xy)),
        origin_mm=origin,
        site=site,
        seed=seed,
        label_names=dict(NODULE_LABEL_NAMES),
        nodules=placed,
    )


def _random_chest(rng: np.random.Generator) -> _Chest:
    a, b = 160.0 * rng.uniform(0.9, 1.08), 110.0 * rng.uniform(0.9, 1.08)
    fat, muscle = float(rng.uniform(8.0, 18.0)), float(rng.uniform(8.0, 12.0))
    inner_a, inner_b = a - fat - muscle, b - fat - muscle
    lung_z = 25.0 + rng.normal(0, 5)
    centres, semis = [], []
    for side in (-1.0, 1.0):
        centres.append(np.array([side * 0.5 * inner_a, 0.05 * inner_b, lung_z]))
        semis.append(np.array([0.46 * inner_a, 0.92 * inner_b, 130.0]) * rng.uniform(0.92, 1.05, 3))
    heart_centre = np.array([0.12 * inner_a, -0.3 * inner_b, -30.0 + rng.normal(0, 5)])
    heart_semi = np.array([0.3 * inner_a, 0.45 * inner_b, 70.0]) * rng.uniform(0.9, 1.1, 3)
    vessels = []
    for centre, semi in zip(centres, semis, strict=True):
        hilum = np.array([centre[0] * 0.45, 0.0, lung_z + 10.0])
        for _ in range(int(rng.integers(8, 13))):
            direction = rng.normal(0, 1, 3) * semi
            direction[0] = abs(direction[0]) * np.sign(centre[0])
            end = centre + direction / np.linalg.norm(direction / semi) * rng.uniform(0.4, 0.9)
            vessels.append(_Vessel(hilum, end, float(rng.uniform(1.0, 3.0))))
    return _Chest(
        body_semi_axes=(a, b),
        fat_mm=fat,
        muscle_mm=muscle,
        lung_centres=(centres[0], centres[1]),
        lung_semi_axes=(semis[0], semis[1]),
        heart_centre=heart_centre,
        heart_semi_axes=heart_semi,
        vessels=vessels,
        rib_period_mm=float(rng.uniform(26.0, 32.0)),
        rib_phase=float(rng.uniform(0, 2 * math.pi)),
        noise_sigma=float(rng.uniform(15.0, 20.0)),
        bias_coefficients=_bias_coefficients(rng),
        patient_offset=np.array([rng.normal(0, 4), rng.normal(-20, 4), -300.0 + rng.normal(0, 20)]),
    )


def _random_nodules(
    rng: np.random.Generator, chest: _Chest, z_range: tuple[float, float]
) -> list[Nodule]:
    """0..5 nodules inside the lungs, each clear of the lung's edge and of the others."""
    wanted = int(rng.integers(0, MAX_NODULES + 1))
    nodules: list[Nodule] = []
    for _ in range(wanted):
        diameter = float(np.exp(rng.uniform(math.log(MIN_DIAMETER_MM), math.log(MAX_DIAMETER_MM))))
        radius = diameter / 2
        for _attempt in range(200):
            side = int(rng.integers(0, 2))
            centre = chest.lung_centres[side] + rng.uniform(-1, 1, 3) * chest.lung_semi_axes[side]
            if not z_range[0] + radius <= centre[2] <= z_range[1] - radius:
                continue
            probe = centre[None, :] + radius * 1.3 * _directions()
            if not chest.in_lung(probe[:, 0], probe[:, 1], probe[:, 2]).all():
                continue
            if any(
                np.linalg.norm(centre - np.array(n.centre_mm))
                < radius + n.diameter_mm / 2 + NODULE_GAP_MM * 2
                for n in nodules
            ):
                continue
            sub_solid = diameter >= 8 and rng.random() < 0.2
            lobulated = rng.random() < 0.5
            nodules.append(
                Nodule(
                    centre_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
                    diameter_mm=diameter,
                    hu=float(rng.uniform(-550, -350) if sub_solid else rng.uniform(-20, 60)),
                    lobulation=tuple(rng.uniform(0.0, 0.12, 3)) if lobulated else (0.0, 0.0, 0.0),  # type: ignore[arg-type]
                    phases=tuple(rng.uniform(0, 2 * math.pi, 3)),  # type: ignore[arg-type]
                )
            )
            break
    return nodules


def _directions() -> np.ndarray:
    """The 26 unit directions to a cube's faces, edges and corners."""
    steps = np.array(
        [
            (i, j, k)
            for i in (-1, 0, 1)
            for j in (-1, 0, 1)
            for k in (-1, 0, 1)
            if (i, j, k) != (0, 0, 0)
        ],
        dtype=float,
    )
    return steps / np.linalg.norm(steps, axis=1, keepdims=True)


def _slice(chest: _Chest, x: np.ndarray, y: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free HU of one slice (patient-centred mm) and the body mask."""
    a0, b0 = chest.body_semi_axes
    taper = 1.0 + 0.03 * math.sin(z / 80.0)
    a, b = a0 * taper, b0 * taper

    def ellipse(semi_x: float, semi_y: float) -> np.ndarray:
        return (x / semi_x) ** 2 + (y / semi_y) ** 2 <= 1.0

    body = ellipse(a, b)
    under_fat = ellipse(a - chest.fat_mm, b - chest.fat_mm)
    thorax = ellipse(a - chest.wall_mm, b - chest.wall_mm)
    hu = np.full(x.shape, AIR_HU, dtype=np.float64)
    hu[body] = FAT_HU
    hu[under_fat] = MUSCLE_HU
    # Ribs: bands across the chest wall, one every rib period, not over the sternum.
    rib_band = math.cos(2 * math.pi * z / chest.rib_period_mm + chest.rib_phase) > 0.55
    if rib_band:
        ribs = under_fat & ~ellipse(a - chest.fat_mm - 7.0, b - chest.fat_mm - 7.0) & (y > -0.6 * b)
        hu[ribs] = RIB_HU
    hu[thorax] = HEART_HU
    lung = chest.in_lung(x, y, z) & thorax
    hu[lung] = LUNG_HU
    spine_y = chest.spine_y
    hu[(x**2 + (y - spine_y) ** 2) <= 14.0**2] = BONE_HU
    hu[(x**2 + (y - spine_y) ** 2) <= 7.0**2] = MARROW_HU
    hu[((x - 15.0) ** 2 + (y - spine_y + 28.0) ** 2) <= 12.0**2] = AORTA_HU
    table = (y >= b0 + 6.0) & (y <= b0 + 14.0) & (np.abs(x) <= 0.9 * float(np.max(x)))
    hu[table] = TABLE_HU
    if lung.any():
        fraction = _vessel_fraction(chest.vessels, x, y, z, float(x[0, 1] - x[0, 0]))
        hu = np.where(lung, hu + fraction * (VESSEL_HU - LUNG_HU), hu)
    return hu.astype(np.float32), body | table


def _vessel_fraction(
    vessels: list[_Vessel], x: np.ndarray, y: np.ndarray, z: float, pixel_mm: float
) -> np.ndarray:
    """How much of each pixel the vessels fill: a soft edge one pixel wide around each tube."""
    fraction = np.zeros(x.shape)
    for vessel in vessels:
        lo = np.minimum(vessel.start, vessel.end) - vessel.radius - pixel_mm
        hi = np.maximum(vessel.start, vessel.end) + vessel.radius + pixel_mm
        if not lo[2] <= z <= hi[2]:
            continue
        axis = vessel.end - vessel.start
        length2 = float(axis @ axis)
        px, py, pz = x - vessel.start[0], y - vessel.start[1], z - vessel.start[2]
        t = np.clip((px * axis[0] + py * axis[1] + pz * axis[2]) / length2, 0.0, 1.0)
        distance = np.sqrt(
            (px - t * axis[0]) ** 2 + (py - t * axis[1]) ** 2 + (pz - t * axis[2]) ** 2
        )
        fraction = np.maximum(fraction, np.clip((vessel.radius - distance) / pixel_mm + 0.5, 0, 1))
    return fraction


def _paint_nodule(
    hu: np.ndarray, labels: np.ndarray, nodule: Nodule, xs: np.ndarray, zs: np.ndarray
) -> None:
    """Blend a nodule (patient-centred mm) into the slices by its partial volume per voxel."""
    step_xy, step_z = float(xs[1] - xs[0]), float(zs[1] - zs[0]) if len(zs) > 1 else 1.0
    reach = nodule.diameter_mm / 2 * (1.0 + sum(nodule.lobulation)) + max(step_xy, step_z)
    cx, cy, cz = nodule.centre_mm

    def index_range(values: np.ndarray, centre: float) -> np.ndarray:
        return np.flatnonzero(np.abs(values - centre) <= reach)

    ks, js, iis = index_range(zs, cz), index_range(xs, cy), index_range(xs, cx)
    if len(ks) == 0 or len(js) == 0 or len(iis) == 0:
        return
    offsets = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5
    sub_z = (zs[ks][:, None] + offsets[None, :] * step_z).ravel()
    sub_y = (xs[js][:, None] + offsets[None, :] * step_xy).ravel()
    sub_x = (xs[iis][:, None] + offsets[None, :] * step_xy).ravel()
    zz, yy, xx = np.meshgrid(sub_z, sub_y, sub_x, indexing="ij")
    inside = nodule.inside(xx, yy, zz).astype(np.float32)
    shape = (len(ks), SUPERSAMPLE, len(js), SUPERSAMPLE, len(iis), SUPERSAMPLE)
    fraction = inside.reshape(shape).mean(axis=(1, 3, 5))
    block = np.ix_(ks, js, iis)
    hu[block] = hu[block] * (1 - fraction) + nodule.hu * fraction
    drawn = fraction >= 0.5
    if not drawn.any():
        drawn = fraction == fraction.max()
    region = labels[block]
    region[drawn] = NODULE_LABEL
    labels[block] = region
