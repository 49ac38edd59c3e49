"""Does the classifier's explanation point at the lesion? The fraction of held-out seeded lesion
sessions whose Grad-CAM maximum lies inside the lesion or within 10 mm of it, for a classifier
trained on the CPU within a time budget, and the held-out ROC AUC beside it.

Sessions are the seeded classification task's phantoms (`sandbox seed --task classification`:
a liver lesion of 8-25 mm, 18-30 HU darker than the liver, in every second one). Training is
the step's own `ClassificationTrainer` (ResNet18, 4.5 × 4.5 × 5 mm, 64 × 64 × 40 voxels about
the body's centre, the step's default body crop);
the explanation is the infer step's own path (`containers.classify.infer.model_input`,
`containers.classify.explain`): the map of the "lesion" class on the network's last
convolution and on finer ones, carried back onto the scan, and its peak compared with the
seeded lesion's centre. Two results:

- held-out ROC AUC of the 10-minute CPU training, goal ≥ 0.95 (the reference is the goal, so
  the ratio is AUC / 0.95 and holds at ≥ 1);
- the explanation: the last convolution's map peaks at the lesion in most cases (ours ≥ 0.5, a
  fraction: the reference is 1, so the ratio is the fraction itself); the note gives the finer
  layers' fractions.

The machine's load average is in the notes: the figures are for a CPU that may be shared.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from benchmarks.harness import BenchResult

log = logging.getLogger(__name__)

NETWORK = "ResNet18"
FINER = ("layer3.1.conv2", "layer2.1.conv2")
TOLERANCE_MM = 10.0
AUC_GOAL = 0.95


@dataclass
class Volume:
    """What the infer path reads of a series: voxels, voxel → RAS affine, shape."""

    volume: np.ndarray
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        i, j, k = self.volume.shape
        return (int(i), int(j), int(k))


def _sessions(first: int, count: int) -> list[tuple[Volume, np.ndarray | None, float]]:
    """(volume, lesion centre in RAS mm or None, lesion diameter) per seeded session."""
    from xnat_plugin.sandbox.seed.liver_lesion import add_liver_lesion, has_lesion, lesion_voxel
    from xnat_plugin.sandbox.seed.phantom import make_phantom
    from xnat_plugin.sandbox.seed.sites import site_for_session

    out = []
    for index in range(first, first + count):
        phantom = make_phantom(index, site_for_session(index, 2))
        centre, diameter = None, 0.0
        if has_lesion(index, 2):
            phantom, lesion = add_liver_lesion(phantom)
            z, y, x = lesion_voxel(phantom, lesion)
            centre, diameter = np.array([x, y, z, 1.0]), lesion.diameter_mm
        sz, sy, sx = phantom.spacing_mm
        affine = np.diag([-sx, -sy, sz, 1.0])  # (x, y, z) voxels, LPS → RAS
        image = np.ascontiguousarray(phantom.hu.transpose(2, 1, 0), dtype=np.float32)
        ras = (affine @ centre)[:3] if centre is not None else None
        out.append((Volume(image, affine), ras, diameter))
    return out


def run(quick: bool) -> list[BenchResult]:
    from containers.classify import explain
    from containers.classify.cases import Preprocessing
    from containers.classify.infer import model_input
    from containers.classify.trainer import ClassificationTrainer, ClassifySettings, Example
    from containers.common.bundle_spec import CTWindow
    from containers.common.metrics.classification import roc_auc
    from containers.train import budget
    from containers.train.distributed import Workers

    if quick:
        train_count, test_count, minutes = 6, 4, 0.5
        prep = Preprocessing(spacing=(9.0, 9.0, 6.0), roi_size=(32, 32, 32), window=CTWindow())
    else:
        train_count, test_count, minutes = 24, 12, 10.0
        prep = Preprocessing(spacing=(4.5, 4.5, 5.0), roi_size=(64, 64, 40), window=CTWindow())
    train = _sessions(1, train_count)
    test = _sessions(1001, test_count)
    validation = _sessions(2001, 4)  # chooses the best epoch; the test sessions stay unseen

    def examples(items: list[tuple[Volume, np.ndarray | None, float]]) -> list[Example]:
        return [
            Example(f"S{n}", prep.apply(v.volume, v.affine), int(c is not None))
            for n, (v, c, _d) in enumerate(items)
        ]

    settings = ClassifySettings(
        model_name="bench", network=NETWORK, epochs=200, roi_size=prep.roi_size,
        spacing=prep.spacing, batch_size=4, device="cpu", learning_rate=1e-3,
        max_minutes=minutes,
    )  # fmt: skip
    workers = Workers(rank=0, world_size=1, device=torch.device("cpu"))
    start = time.perf_counter()
    result = ClassificationTrainer(settings, ["no_lesion", "lesion"], workers).train_fold(
        0, examples(train), examples(validation), None, deadline=budget.deadline_after(minutes)
    )
    seconds = time.perf_counter() - start
    from containers.classify.networks import build_classifier

    network = build_classifier(NETWORK, 2)
    network.load_state_dict(result.best_state)
    network.eval()
    layers = [explain.target_layer(network, NETWORK), *FINER]
    hits = {layer: 0 for layer in layers}
    scores, truths, lesions = [], [], 0
    for volume, centre, diameter in test:
        image, affine = model_input(volume, prep)  # type: ignore[arg-type]
        with torch.no_grad():
            scores.append(float(torch.softmax(network(image[None]), 1)[0, 1]))
        truths.append(int(centre is not None))
        if centre is None:
            continue
        lesions += 1
        for layer in layers:
            cam = explain.grad_cam([network], image, 1, layer)
            on_scan = explain.to_scan_grid(cam, affine, volume.affine, volume.shape)
            peak = explain.find_peak(on_scan, volume.affine)
            distance = float(np.linalg.norm(np.array(peak.ras_mm) - centre))
            hits[layer] += distance <= diameter / 2 + TOLERANCE_MM
            log.info("lesion %.1f mm, %s: peak %.1f mm from its centre", diameter, layer, distance)
    auc = roc_auc(truths, scores)
    finer = ", ".join(f"{layer} {hits[layer]}/{lesions}" for layer in FINER)
    passes = sum(record.optimizer_steps for record in result.history) * settings.batch_size
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    training = (
        f"{NETWORK}, {len(result.history)} epochs in {seconds / 60:.1f} min on "
        f"{train_count} sessions ({seconds / max(1, passes):.2f} s per session pass), "
        f"tested on {len(test)}; load average {load}"
    )
    note = f"{training}; held-out AUC {auc:.2f}; finer layers: {finer}"
    return [
        BenchResult(
            name="classify held-out ROC AUC after a CPU training",
            ours=auc,
            reference=AUC_GOAL,
            goal=">=1.0",
            unit="AUC",
            note=training,
        ),
        BenchResult(
            name=f"classify explanation at the lesion ({layers[0]})",
            ours=hits[layers[0]] / max(1, lesions),
            reference=1.0,
            goal="ours>=0.5",
            unit="fraction",
            note=note,
        ),
    ]
