"""Grid round trips and the largest-component clean-up."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from containers.common.resample import labels_to_original_grid, plan_grid, to_model_grid
from containers.infer.cleanup import keep_largest_component
from tests.imaging.dicom_factory import phantom_labels

LPS_PERMUTED = np.array([[0, -0.8, 0, 10], [-0.9, 0, 0, 5], [0, 0, 2.5, 3], [0, 0, 0, 1.0]])


def one_hot(labels: torch.Tensor, classes: int = 4) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels.long(), classes).permute(3, 0, 1, 2).float()


def margins(scores: torch.Tensor) -> torch.Tensor:
    """Each label's score minus the background's, as the infer step predicts them."""
    return scores[1:] - scores[:1]


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_labels_survive_the_trip_to_the_model_grid_and_back(mode: str):
    labels = phantom_labels((40, 32, 12))
    mapping = plan_grid(labels.shape, LPS_PERMUTED, (1.5, 1.5, 2.0))
    assert mapping.reoriented_shape == (32, 40, 12)
    on_model = torch.round(to_model_grid(labels.astype(np.float32), mapping))[0, 0]
    back = labels_to_original_grid(margins(one_hot(on_model)), mapping, mode=mode)
    assert back.shape == labels.shape
    assert (back == labels).mean() > 0.98


def test_model_grid_keeps_world_position_of_the_first_and_last_voxel():
    shape = (40, 32, 12)
    mapping = plan_grid(shape, LPS_PERMUTED, (1.5, 1.5, 2.0))
    corners_model = [np.zeros(3), np.asarray(mapping.model_shape) - 1]
    world = [mapping.model_affine @ np.append(c, 1) for c in corners_model]
    original = [
        LPS_PERMUTED @ np.array([i, j, k, 1.0]) for i in (0, 39) for j in (0, 31) for k in (0, 11)
    ]
    for point in world:
        assert any(np.allclose(point, o) for o in original)
    assert np.allclose(
        np.linalg.norm(mapping.model_affine[:3, :3], axis=0), (1.5, 1.5, 2.0), rtol=0.05
    )


def test_model_grid_is_ras_for_an_lps_scan():
    mapping = plan_grid((8, 8, 8), np.diag([-1.0, -1.0, 1.0, 1.0]), (1.0, 1.0, 1.0))
    assert np.all(np.diag(mapping.model_affine)[:3] > 0)


def test_only_the_largest_island_of_each_label_stays():
    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[2:8, 2:8, 2:8] = 1
    labels[15:17, 15:17, 15:17] = 1
    labels[10:12, 2:4, 2:4] = 2
    labels[12:18, 2:8, 10:18] = 2
    keep_largest_component(labels, [1, 2, 3])
    assert np.count_nonzero(labels == 1) == 216
    assert labels[16, 16, 16] == 0
    assert np.count_nonzero(labels == 2) == 6 * 6 * 8
    assert labels[10, 2, 2] == 0


def test_a_paired_organ_keeps_as_many_islands_as_it_had_in_training():
    labels = np.zeros((30, 20, 20), dtype=np.uint8)
    labels[2:8, 2:8, 2:8] = 3  # left kidney
    labels[20:26, 2:8, 2:8] = 3  # right kidney
    labels[14, 15, 15] = 3  # a speck between them
    keep_largest_component(labels, [3], keep={3: 2})
    assert labels[4, 4, 4] == 3 and labels[22, 4, 4] == 3
    assert labels[14, 15, 15] == 0
    assert np.count_nonzero(labels == 3) == 2 * 216


def _scipy_largest(label_map: np.ndarray, values: list[int], keep: dict[int, int]) -> np.ndarray:
    """Reference: label each value's mask with scipy and keep its largest islands."""
    from scipy import ndimage

    result = label_map.copy()
    for value in values:
        components, count = ndimage.label(label_map == value, structure=np.ones((3, 3, 3)))
        wanted = keep.get(value, 1)
        if count <= wanted:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        order = np.argsort(-sizes, kind="stable")[:wanted]
        result[(components > 0) & ~np.isin(components, order)] = 0
    return result


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_clean_up_matches_a_per_label_scipy_reference_on_noisy_maps(layout: str):
    rng = np.random.default_rng(7)
    # Blocky noise: many islands of every size, touching each other across labels.
    coarse = rng.integers(0, 5, size=(12, 10, 8), dtype=np.uint8)
    noisy = np.repeat(np.repeat(np.repeat(coarse, 3, 0), 3, 1), 2, 2)
    noisy[rng.random(noisy.shape) < 0.05] = 0
    keep = {3: 2}
    expected = _scipy_largest(noisy, [1, 2, 3], keep)  # label 4 is not cleaned
    if layout == "C":
        labels = noisy.copy()
    elif layout == "F":
        labels = np.asfortranarray(noisy)
    else:
        labels = np.zeros((36, 30, 32), dtype=np.uint8)[:, :, ::2]
        labels[...] = noisy
    result = keep_largest_component(labels, [1, 2, 3], keep)
    assert result is labels
    np.testing.assert_array_equal(labels, expected)
    assert np.array_equal(labels == 4, noisy == 4)


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize(
    "affine", [np.diag([-1.2, -1.0, 2.5, 1.0]), LPS_PERMUTED], ids=["lps", "permuted"]
)
def test_model_grid_resampling_equals_reorienting_first(layout: str, affine: np.ndarray):
    import nibabel.orientations as nio

    rng = np.random.default_rng(3)
    volume = rng.normal(size=(40, 32, 12)).astype(np.float32)
    volume = np.asfortranarray(volume) if layout == "F" else volume
    mapping = plan_grid(volume.shape, affine, (1.5, 1.5, 2.0))
    reoriented = np.ascontiguousarray(nio.apply_orientation(volume, mapping.ornt))
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(reoriented)[None, None],
        size=mapping.model_shape,
        mode="trilinear",
        align_corners=True,
    )
    result = to_model_grid(volume, mapping)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_labels_from_margins_are_the_argmax_of_the_scores(mode: str):
    torch.manual_seed(1)
    scores = torch.randn(5, 12, 10, 8)
    scores[:, 0, 0, 0] = 0.5  # a tie: the first class (background) wins, as argmax
    same_grid = plan_grid((12, 10, 8), np.eye(4), (1.0, 1.0, 1.0))
    assert not same_grid.needs_resampling
    labels = labels_to_original_grid(margins(scores), same_grid, mode=mode)
    np.testing.assert_array_equal(labels, torch.argmax(scores, dim=0).numpy())
    assert labels[0, 0, 0] == 0

    finer = plan_grid((23, 19, 15), np.diag([0.5, 0.5, 0.5, 1.0]), (1.0, 1.0, 1.0))
    assert finer.model_shape == (12, 10, 8)
    expected = torch.nn.functional.interpolate(
        scores[None], size=(23, 19, 15), mode="trilinear", align_corners=True
    )[0].argmax(dim=0)
    if mode == "linear":
        upsampled = labels_to_original_grid(margins(scores), finer, mode=mode)
        assert (upsampled == expected.numpy()).mean() > 0.999
