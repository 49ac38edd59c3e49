"""Phantoms are deterministic, CT-like, small by default, and the same anatomy on every site."""

from __future__ import annotations

import numpy as np
import pytest

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.sites import SITES, site_for_session, site_named


def test_same_seed_gives_identical_volumes_and_labels() -> None:
    first, second = make_phantom(11, "SITE_A"), make_phantom(11, "SITE_A")
    assert np.array_equal(first.hu, second.hu)
    assert np.array_equal(first.labels, second.labels)
    assert first.origin_mm == second.origin_mm


def test_different_seeds_give_different_subjects() -> None:
    assert not np.array_equal(make_phantom(1, "SITE_A").labels, make_phantom(2, "SITE_A").labels)


def test_every_organ_is_present_with_its_label_value() -> None:
    phantom = make_phantom(5, "SITE_B")
    assert set(np.unique(phantom.labels)) == {0, 1, 2, 3}
    assert phantom.label_names == {1: "liver", 2: "spleen", 3: "kidney"}
    assert phantom.hu.dtype == np.int16 and phantom.labels.dtype == np.uint8


def test_organ_densities_are_close_and_overlap_so_a_threshold_cannot_separate_them() -> None:
    phantom = make_phantom(5, "SITE_A")
    means = {v: float(phantom.hu[phantom.labels == v].mean()) for v in (1, 2, 3)}
    assert 45 < means[1] < 75 and 35 < means[2] < 65 and 20 < means[3] < 50
    assert means[1] > means[3]
    liver, spleen = phantom.hu[phantom.labels == 1], phantom.hu[phantom.labels == 2]
    assert 13 < liver.std() < 25
    # The best single threshold between liver and spleen still gets a quarter of each wrong.
    best_balanced_error = min(
        (np.mean(liver < t) + np.mean(spleen >= t)) / 2 for t in range(0, 120)
    )
    assert best_balanced_error > 0.25


def test_outside_the_body_is_air_and_the_body_has_fat_and_bone() -> None:
    phantom = make_phantom(3, "SITE_C")
    corner = phantom.hu[:, :4, :4]
    assert abs(float(corner.mean()) + 1000) < 10
    assert (phantom.hu > 300).any()  # spine
    assert ((phantom.hu > -160) & (phantom.hu < -60)).any()  # subcutaneous fat


def test_sites_have_different_anisotropic_grids_and_stay_small() -> None:
    spacings = {make_phantom(1, site).spacing_mm for site in SITES}
    assert len(spacings) == len(SITES)
    for site in SITES:
        phantom = make_phantom(1, site)
        z, y, x = phantom.spacing_mm
        assert z > y == x
        assert phantom.shape[1:] == (96, 96) and 32 <= phantom.shape[0] <= 48


def test_the_same_subject_has_the_same_organ_volumes_on_every_site() -> None:
    volumes = []
    for site in SITES:
        phantom = make_phantom(21, site)
        voxel_ml = float(np.prod(phantom.spacing_mm)) / 1000
        volumes.append([float((phantom.labels == v).sum()) * voxel_ml for v in (1, 2, 3)])
    volumes_array = np.array(volumes)
    spread = volumes_array.max(axis=0) / volumes_array.min(axis=0)
    assert (spread < 1.2).all(), volumes


def test_a_bigger_grid_keeps_the_field_of_view() -> None:
    small = make_phantom(2, "SITE_A")
    big = make_phantom(2, "SITE_A", matrix=128, slices=60)
    assert big.shape == (60, 128, 128)
    assert big.spacing_mm[1] * 128 == pytest.approx(small.spacing_mm[1] * 96)


def test_sessions_rotate_over_the_chosen_sites() -> None:
    assert [site_for_session(i, 2).name for i in range(1, 5)] == [
        "SITE_A",
        "SITE_B",
        "SITE_A",
        "SITE_B",
    ]


def test_unknown_site_is_a_user_error() -> None:
    with pytest.raises(UserError, match="SITE_A"):
        site_named("SITE_Z")
