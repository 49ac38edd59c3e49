"""MONAI transform chains for training and validation.

Everything up to the first random transform is deterministic and cached by `CacheDataset`:
bringing a case to the model grid (the same reorientation, resampling and CT window as the infer
step) and padding to at least one patch. The random part samples patches around labels and
augments them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.transforms import (
    Compose,
    EnsureTyped,
    MapTransform,
    RandAffined,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    SpatialPadd,
)

from containers.train.cases import TrainingCase
from containers.train.data_plan import DataPlan, image_to_model_grid, label_to_model_grid

KEYS = ("image", "label")


def case_item(case: TrainingCase) -> dict[str, Any]:
    """The dataset item for a case (arrays on the scan grid; `ToModelGridd` converts them)."""
    return {"image": case.image, "label": case.label, "affine": case.affine}


class ToModelGridd(MapTransform):
    """image/label on the scan grid → (1, X, Y, Z) tensors on the model grid, normalised."""

    def __init__(self, plan: DataPlan) -> None:
        super().__init__(KEYS)
        self.plan = plan

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        case = TrainingCase(
            session_label="",
            session_uri="",
            subject="",
            site="",
            image=data["image"],
            label=data["label"],
            affine=data["affine"],
            labels={},
            checksum="",
        )
        image, mapping = image_to_model_grid(case, self.plan)
        label = label_to_model_grid(data["label"], mapping)
        return {"image": image, "label": label.float()}


def deterministic_transforms(plan: DataPlan, patch_size: Sequence[int]) -> list[Any]:
    return [
        ToModelGridd(plan),
        SpatialPadd(KEYS, spatial_size=list(patch_size)),
        EnsureTyped(KEYS, track_meta=False),
    ]


def augmenting_transforms(
    patch_size: Sequence[int], samples_per_case: int, flip_axes: Sequence[int] = (1,)
) -> list[Any]:
    # Never flip left-right: liver and spleen sit on opposite sides, a mirror would swap them.
    flips = [RandFlipd(KEYS, prob=0.1, spatial_axis=axis) for axis in flip_axes]
    return [
        RandCropByPosNegLabeld(
            KEYS,
            label_key="label",
            spatial_size=list(patch_size),
            pos=2,
            neg=1,
            num_samples=samples_per_case,
            image_key="image",
            image_threshold=0,
        ),
        RandAffined(
            KEYS,
            prob=0.25,
            rotate_range=(0.0, 0.0, 0.26),
            scale_range=(0.1, 0.1, 0.1),
            mode=("bilinear", "nearest"),
            padding_mode="border",
        ),
        *flips,
        RandScaleIntensityd("image", factors=0.1, prob=0.5),
        RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        EnsureTyped(KEYS, track_meta=False),
    ]


def train_compose(plan: DataPlan, patch_size: Sequence[int], samples_per_case: int) -> Compose:
    return Compose(
        [
            *deterministic_transforms(plan, patch_size),
            *augmenting_transforms(patch_size, samples_per_case),
        ]
    )


def val_compose(plan: DataPlan) -> Compose:
    return Compose([ToModelGridd(plan), EnsureTyped(KEYS, track_meta=False)])
