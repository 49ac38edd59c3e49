"""MONAI bundles: save, load, fold ensembles, refusals, and `monai.bundle` can run them."""

from __future__ import annotations

import json
from pathlib import Path

import monai.bundle
import numpy as np
import pytest
import torch

from containers.common.bundle import (
    BundleSpec,
    NetworkSpec,
    ZScore,
    load_bundle,
    save_bundle,
)
from containers.common.networks import build_network
from containers.common.nifti_io import read_nifti, write_nifti
from xnat_plugin.errors import UserError

LABELS = {"liver": 1, "spleen": 2, "kidney": 3}


def tiny_spec(name: str = "tiny", network: str = "UNet", **kwargs) -> BundleSpec:
    return BundleSpec(
        model_name=name,
        network=NetworkSpec(name=network, kwargs={"channels": [4, 8], "strides": [2]}),
        labels=LABELS,
        patch_size=(16, 16, 16),
        spacing=(2.0, 2.0, 2.0),
        **kwargs,
    )


def test_saved_bundle_loads_with_the_same_spec_and_weights(tmp_path: Path):
    spec = tiny_spec(normalization=ZScore(mean=10, std=3), training={"epochs": 2})
    network = spec.build_network()
    save_bundle(tmp_path / "tiny", spec, network.state_dict())
    bundle = load_bundle(tmp_path / "tiny")
    assert bundle.spec == spec
    assert bundle.member_names == ["models/model.pt"]
    (model,) = bundle.build_models()
    x = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), network.eval()(x))


def test_metadata_follows_monai_conventions(tmp_path: Path):
    save_bundle(tmp_path / "b", tiny_spec(), tiny_spec().build_network().state_dict())
    metadata = json.loads((tmp_path / "b/configs/metadata.json").read_text())
    outputs = metadata["network_data_format"]["outputs"]["pred"]
    assert outputs["channel_def"] == {"0": "background", "1": "liver", "2": "spleen", "3": "kidney"}
    assert outputs["num_channels"] == 4
    assert metadata["network_data_format"]["inputs"]["image"]["num_channels"] == 1
    assert metadata["xnat_monai"]["segment_codes"]["spleen"]["type"]["value"] == "78961009"


def test_fold_models_load_as_an_ensemble_with_a_checksum(tmp_path: Path):
    spec = tiny_spec()
    states = [spec.build_network().state_dict() for _ in range(3)]
    save_bundle(tmp_path / "b", spec, states)
    bundle = load_bundle(tmp_path / "b")
    assert bundle.member_names == [f"models/fold_{k}/model.pt" for k in range(3)]
    assert len(bundle.build_models()) == 3
    assert (tmp_path / "b/models/model.pt").is_file()
    (tmp_path / "b/models/fold_1/model.pt").write_bytes(b"")
    with pytest.raises(UserError, match="cannot load weights .*fold_1"):
        load_bundle(tmp_path / "b")


@pytest.mark.parametrize("network", ["UNet", "SegResNet", "DynUNet", "SwinUNETR"])
def test_every_network_builds_and_keeps_the_patch_shape(network: str):
    patch = (64, 64, 64) if network == "SwinUNETR" else (32, 32, 32)
    model = build_network(
        network, 1, 4, patch, **({"feature_size": 12} if network == "SwinUNETR" else {})
    )
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 1, *patch)).shape == (1, 4, *patch)


def test_patch_size_that_does_not_fit_the_network_is_refused():
    with pytest.raises(UserError, match="multiple of"):
        build_network("UNet", 1, 2, (30, 32, 32))


def test_folder_without_metadata_is_refused(tmp_path: Path):
    with pytest.raises(UserError, match="not a MONAI bundle"):
        load_bundle(tmp_path)


def test_weights_of_another_network_are_refused(tmp_path: Path):
    spec = tiny_spec()
    other = build_network("SegResNet", 1, 4, (16, 16, 16), init_filters=8)
    save_bundle(tmp_path / "b", spec, other.state_dict())
    with pytest.raises(UserError, match="do not fit its network UNet"):
        load_bundle(tmp_path / "b").build_models()


def test_labels_or_channels_that_do_not_fit_are_refused(tmp_path: Path):
    save_bundle(tmp_path / "b", tiny_spec(), tiny_spec().build_network().state_dict())
    bundle = load_bundle(tmp_path / "b")
    bundle.check_fits(labels=LABELS, in_channels=1)
    with pytest.raises(UserError, match="takes 1 input channel"):
        bundle.check_fits(in_channels=2)
    with pytest.raises(UserError, match="segments .* but"):
        bundle.check_fits(labels={"liver": 1})


def test_metadata_whose_channels_disagree_with_labels_is_refused(tmp_path: Path):
    save_bundle(tmp_path / "b", tiny_spec(), tiny_spec().build_network().state_dict())
    path = tmp_path / "b/configs/metadata.json"
    metadata = json.loads(path.read_text())
    metadata["network_data_format"]["outputs"]["pred"]["channel_def"]["3"] = "pancreas"
    path.write_text(json.dumps(metadata))
    with pytest.raises(UserError, match="disagree with labels"):
        load_bundle(tmp_path / "b")


def test_invalid_spec_is_refused_with_the_field_named(tmp_path: Path):
    save_bundle(tmp_path / "b", tiny_spec(), tiny_spec().build_network().state_dict())
    path = tmp_path / "b/configs/metadata.json"
    metadata = json.loads(path.read_text())
    metadata["xnat_monai"]["labels"] = {"liver": 1, "spleen": 5}
    path.write_text(json.dumps(metadata))
    with pytest.raises(UserError, match="labels: .*1..2"):
        load_bundle(tmp_path / "b")


def test_monai_bundle_runs_the_inference_config(tmp_path: Path):
    spec = tiny_spec()
    save_bundle(tmp_path / "b", spec, spec.build_network().state_dict())
    data = tmp_path / "b/data"
    write_nifti(
        data / "case.nii.gz",
        np.random.default_rng(0).normal(size=(20, 18, 10)).astype(np.float32),
        np.diag([1.5, 1.5, 3.0, 1]),
    )
    monai.bundle.run(
        config_file=str(tmp_path / "b/configs/inference.json"), bundle_root=str(tmp_path / "b")
    )
    (output,) = list((tmp_path / "b/eval").glob("*.nii.gz"))
    seg = read_nifti(output, dtype=np.uint8)
    assert seg.array.shape == (20, 18, 10)
    assert set(np.unique(seg.array)) <= {0, 1, 2, 3}
