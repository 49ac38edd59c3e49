"""Classification bundles load as MONAI bundles: the one `classify train` writes
(`containers/classify/bundle_output.py`) and the model zoo's `classification_template`, each
read by the shared bundle reader (`containers.common.bundle_pipeline`, under its trust rule),
their classes named by `network_data_format.outputs.pred.channel_def`."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from containers.classify.bundle_output import class_names, write_classifier_bundle
from containers.classify.cases import Preprocessing
from containers.classify.networks import CLASSIFIER_NAMES, build_classifier
from containers.classify.trainer import FoldResult
from containers.common.bundle_pipeline import build_network, read_pipeline
from containers.common.bundle_spec import CTWindow
from tests.monai_bundles import zoo_bundle

CLASSES = ["lesion", "no_lesion"]
PREP = Preprocessing(spacing=(6.0, 6.0, 6.0), roi_size=(32, 32, 32), window=CTWindow())


def fold(state: dict[str, torch.Tensor], index: int, score: float) -> FoldResult:
    return FoldResult(
        index=index, train_sessions=["A"], validation_sessions=["B"], class_weights=[1.0, 1.0],
        best_score=score, best_epoch=1, best_record={}, history=[], best_state=state,
    )  # fmt: skip


def test_each_registered_network_s_bundle_rebuilds_it_from_its_own_config(tmp_path: Path):
    for name in CLASSIFIER_NAMES:
        torch.manual_seed(0)
        state = build_classifier(name, len(CLASSES)).state_dict()
        bundle = write_classifier_bundle(
            tmp_path / name, "m", name, CLASSES, PREP, [fold(state, 0, 0.9)], {"project": "P"}
        )
        network = build_network(bundle)
        network.load_state_dict(torch.load(bundle / "models" / "model.pt", weights_only=True))
        assert type(network).__name__ == type(build_classifier(name, 2)).__name__


def test_our_bundle_runs_through_its_inference_preprocessing_to_probabilities(tmp_path: Path):
    torch.manual_seed(0)
    states = [build_classifier("EfficientNetB0", 2).state_dict() for _ in range(2)]
    bundle = write_classifier_bundle(
        tmp_path / "b", "m", "EfficientNetB0", CLASSES, PREP,
        [fold(states[0], 0, 0.6), fold(states[1], 1, 0.8)], {"project": "P"},
    )  # fmt: skip
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert class_names(metadata) == CLASSES
    # The best fold's weights are the bundle's model; each fold's are kept beside it.
    primary = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(primary[k], states[1][k]) for k in primary)
    assert (bundle / "models" / "fold_0" / "model.pt").is_file()

    pipeline = read_pipeline(bundle)
    assert not pipeline.trust.runs_code  # declarative: read as data
    volume = np.full((50, 40, 20), -1000.0, dtype=np.float32)
    volume[10:40, 10:30, 5:15] = 60.0
    nib.save(nib.Nifti1Image(volume, np.diag([3.0, 3.0, 5.0, 1.0])), tmp_path / "ct.nii.gz")
    item = pipeline.preprocessing({pipeline.image_key: str(tmp_path / "ct.nii.gz")})
    image = item[pipeline.image_key]
    assert tuple(image.shape) == (1, 32, 32, 32)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    pipeline.network.load_state_dict(primary)
    pipeline.network.eval()
    with torch.no_grad():
        logits = pipeline.inferer(image[None].float(), pipeline.network)
    probabilities = pipeline.postprocessing({"pred": logits[0]})["pred"]
    assert probabilities.shape == (2,) and abs(float(probabilities.sum()) - 1.0) < 1e-5


def test_model_zoo_classification_template_loads_as_a_bundle(reference_dir: Path, tmp_path: Path):
    bundle = zoo_bundle(reference_dir, "classification_template", tmp_path)
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    assert class_names(metadata) == ["background", "circle", "triangle", "rectangle"]
    network = build_network(bundle)
    network.load_state_dict(
        torch.load(bundle / "models" / "model.pt", weights_only=True), strict=True
    )
    network.eval()
    with torch.no_grad():
        out = network(torch.zeros(1, 1, 128, 128))
    assert out.shape == (1, len(class_names(metadata)))
