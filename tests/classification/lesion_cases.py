"""Seeded liver-lesion sessions as DICOM folders (the classification task's phantoms, written as
`sandbox seed --task classification` writes them), with where each lesion is, and a classifier
bundle trained on them by the step's own trainer and bundle writer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from containers.classify.bundle_output import write_classifier_bundle
from containers.classify.cases import Preprocessing
from containers.classify.trainer import ClassificationTrainer, ClassifySettings, Example
from containers.common.bundle_spec import CTWindow
from containers.common.dicom_series import read_series
from containers.train.distributed import Workers
from xnat_plugin.sandbox.seed.ct_series import SeriesIdentity, write_ct_series
from xnat_plugin.sandbox.seed.liver_lesion import ABSENT, CLASSES, PRESENT, add_liver_lesion
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.sites import SITES

CPU = Workers(rank=0, world_size=1, device=torch.device("cpu"))


@dataclass(frozen=True)
class LesionCase:
    label: str
    dicom_dir: Path
    cls: str
    lesion_ras_mm: tuple[float, float, float] | None  # centre, RAS
    lesion_diameter_mm: float


def make_cases(folder: Path, count: int, *, first_seed: int = 100) -> list[LesionCase]:
    """`count` sessions over the sites in turn, every second one with a lesion."""
    cases = []
    for n in range(count):
        seed = first_seed + n
        phantom = make_phantom(seed, SITES[n % len(SITES)])
        centre: tuple[float, float, float] | None = None
        diameter = 0.0
        if n % 2 == 0:
            phantom, lesion = add_liver_lesion(phantom)
            x, y, z = lesion.center_mm  # LPS
            centre, diameter = (-x, -y, z), lesion.diameter_mm
        label = f"S{seed}_CT1"
        dicom_dir = folder / label
        write_ct_series(phantom, dicom_dir, SeriesIdentity.for_subject(seed, f"S{seed}", label))
        cases.append(LesionCase(label, dicom_dir, PRESENT if centre else ABSENT, centre, diameter))
    return cases


def train_bundle(
    models: Path,
    name: str,
    cases: list[LesionCase],
    validation: list[LesionCase],
    prep: Preprocessing,
    *,
    network: str = "EfficientNetB0",
    epochs: int = 1,
    learning_rate: float = 1e-3,
) -> Path:
    classes = list(CLASSES)

    def examples(items: list[LesionCase]) -> list[Example]:
        out = []
        for case in items:
            series = read_series(case.dicom_dir)
            volume = np.asarray(series.volume, dtype=np.float32)
            out.append(
                Example(case.label, prep.apply(volume, series.affine), classes.index(case.cls))
            )
        return out

    settings = ClassifySettings(
        model_name=name, network=network, epochs=epochs, roi_size=prep.roi_size,
        spacing=prep.spacing, batch_size=4, device="cpu", learning_rate=learning_rate,
    )  # fmt: skip
    result = ClassificationTrainer(settings, classes, CPU).train_fold(
        0, examples(cases), examples(validation), None
    )
    folder = models / name
    folder.mkdir(parents=True)
    write_classifier_bundle(folder, name, network, classes, prep, [result], {"data": []})
    return folder


TINY = Preprocessing(spacing=(9.0, 9.0, 6.0), roi_size=(32, 32, 32), window=CTWindow())
