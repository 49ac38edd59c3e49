"""Classification bundles load as MONAI bundles: the one `classify train` writes
(`containers/classify/bundle_output.py`) and the model zoo's `classification_template`, each
read by the shared bundle reader (`containers.common.bundle_pipeline`, under its trust rule),
their classes named by `network_data_format.outputs.pred.channel_def`."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
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


def test_the_body_crop_centres_the_input_on_the_body_as_the_bundle_spells_it(tmp_path: Path):
    """`Preprocessing(crop="body")` keeps the box of the voxels above the window's floor and
    centres the input on it; the bundle's own pipeline (MONAI `CropForegroundd`) gives the
    same input; the input grid's affine says where each input voxel lies in the scan."""
    volume = np.full((60, 60, 20), -1000.0, dtype=np.float32)
    volume[5:26, 10:41, 5:16] = 40.0  # the "body", off the scan's centre
    volume[15, 25, 10] = 200.0  # a marker at the body's centre
    affine = np.diag([3.0, 3.0, 5.0, 1.0])
    prep = Preprocessing(spacing=(3.0, 3.0, 5.0), roi_size=(16, 16, 8), window=CTWindow())
    before = volume.copy()
    image, grid = prep.apply_with_affine(volume, affine)
    assert np.array_equal(volume, before)  # on the scan's own grid too, the scan is left as is
    assert tuple(image.shape) == (1, 16, 16, 8)
    assert float(image.min()) > 0.0  # all body, no air: the body is larger than the input
    marker = np.unravel_index(int(torch.argmax(image[0])), image.shape[1:])
    assert np.allclose((grid @ np.array([*marker, 1.0]))[:3], affine[:3, :3] @ [15, 25, 10])
    assert all(abs(int(m) - s // 2) <= 1 for m, s in zip(marker, (16, 16, 8), strict=True))

    centre = Preprocessing(prep.spacing, prep.roi_size, prep.window, crop="centre")
    about_centre, centre_grid = centre.apply_with_affine(volume, affine)
    assert float(about_centre.min()) == 0.0  # the scan's centre: air and the body's edge
    assert np.allclose(centre_grid[:3, 3], affine[:3, :3] @ [22, 22, 6])

    nib.save(nib.Nifti1Image(volume, affine), tmp_path / "ct.nii.gz")
    torch.manual_seed(0)
    bundle = write_classifier_bundle(
        tmp_path / "b", "m", "EfficientNetB0", CLASSES, prep,
        [fold(build_classifier("EfficientNetB0", 2).state_dict(), 0, 0.9)], {"project": "P"},
    )  # fmt: skip
    pipeline = read_pipeline(bundle)
    assert not pipeline.trust.runs_code
    item = pipeline.preprocessing({pipeline.image_key: str(tmp_path / "ct.nii.gz")})
    assert torch.allclose(torch.as_tensor(item[pipeline.image_key]).float(), image, atol=1e-5)


def test_a_bundle_from_before_the_body_crop_keeps_the_centre_crop(tmp_path: Path):
    from containers.classify.bundle_output import CLASSIFIER_KEY
    from containers.classify.infer import read_classifier_bundle
    from xnat_plugin.errors import UserError

    torch.manual_seed(0)
    bundle = write_classifier_bundle(
        tmp_path / "b", "m", "EfficientNetB0", CLASSES, PREP,
        [fold(build_classifier("EfficientNetB0", 2).state_dict(), 0, 0.9)], {"project": "P"},
    )  # fmt: skip
    assert read_classifier_bundle(bundle).preprocessing.crop == "body"
    path = bundle / "configs" / "metadata.json"
    metadata = json.loads(path.read_text())
    del metadata[CLASSIFIER_KEY]["preprocessing"]["crop_to"]
    path.write_text(json.dumps(metadata))
    assert read_classifier_bundle(bundle).preprocessing.crop == "centre"
    metadata[CLASSIFIER_KEY]["preprocessing"]["crop_to"] = "liver"
    path.write_text(json.dumps(metadata))
    with pytest.raises(UserError, match="unknown crop_to 'liver'"):
        read_classifier_bundle(bundle)
