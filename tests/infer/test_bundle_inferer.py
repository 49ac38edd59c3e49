"""Our own infer reads its sliding window from the bundle: the settings inference.json states
(roi_size, overlap, sw_batch_size, mode) are the ones the step runs with, a changed overlap in
the bundle changes the windows, and bundles written before these fields were stored still load."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.inferers import SlidingWindowInferer

from containers.common.bundle import load_bundle, read_bundle_spec, save_bundle
from containers.common.bundle_spec import BundleSpec, CTWindow, InfererSpec, LossSpec, ZScore
from containers.common.networks import default_kwargs
from containers.common.resample import plan_grid, to_model_grid
from containers.infer import native
from containers.infer.model_loading import describe_model
from containers.infer.native import ModelInput, NativeOptions, segment_native
from tests.bundles import tiny_bundle as make_bundle
from xnat_plugin.errors import UserError

CPU = torch.device("cpu")


def model_input(spec: BundleSpec, shape: tuple[int, int, int] = (64, 60, 30)) -> ModelInput:
    """A random scan already on the bundle's grid (no resampling: only the window differs)."""
    affine = np.diag([*spec.spacing, 1.0])
    volume = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    mapping = plan_grid(shape, affine, spec.spacing, spec.orientation)
    return ModelInput(image=to_model_grid(volume, mapping), mapping=mapping, seconds=0.0)


def set_stored(bundle: Path, **fields: Any) -> None:
    """Edit the bundle's stored spec as a user editing configs/metadata.json would."""
    path = bundle / "configs" / "metadata.json"
    metadata = json.loads(path.read_text())
    for name, value in fields.items():
        if value is None:
            metadata["xnat_monai"].pop(name, None)
        else:
            metadata["xnat_monai"][name] = value
    path.write_text(json.dumps(metadata))


def run_native(bundle_dir: Path, options: NativeOptions | None = None) -> Any:
    bundle = load_bundle(bundle_dir)
    models = bundle.build_models(CPU)
    return segment_native(
        model_input(bundle.spec), bundle.spec, models, CPU, options or NativeOptions()
    )


def test_inference_json_states_the_sliding_window_native_infer_runs_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle_dir = make_bundle(tmp_path)
    set_stored(bundle_dir, inferer={"overlap": 0.5, "sw_batch_size": 3, "mode": "gaussian"})
    spec = read_bundle_spec(bundle_dir)
    save_bundle(bundle_dir, spec, load_bundle(bundle_dir).state_dicts[0])  # re-written from it

    parser = ConfigParser()
    parser.read_config(str(bundle_dir / "configs" / "inference.json"))
    stated = parser.get_parsed_content("inferer")
    assert isinstance(stated, SlidingWindowInferer)

    used: dict[str, Any] = {}
    real_predict = native.predict

    def recording_predict(image: torch.Tensor, models: Any, **kwargs: Any) -> Any:
        used.update(kwargs)
        return real_predict(image, models, **kwargs)

    monkeypatch.setattr(native, "predict", recording_predict)
    run_native(bundle_dir)
    assert list(stated.roi_size) == list(used["patch_size"]) == list(spec.patch_size)
    assert stated.overlap == used["overlap"] == 0.5
    assert stated.sw_batch_size == used["sw_batch_size"] == 3
    assert stated.mode == "gaussian"  # the only blend predict implements
    # --sw-batch-size still wins over the bundle's (a speed setting, not a result).
    run_native(bundle_dir, NativeOptions(sw_batch_size=2))
    assert used["sw_batch_size"] == 2


@pytest.mark.parametrize(
    "normalization", [CTWindow(a_min=-50.0, a_max=150.0), ZScore(mean=12.0, std=4.0)]
)
def test_inference_json_preprocesses_as_the_spec_says(
    tmp_path: Path, normalization: CTWindow | ZScore
) -> None:
    """What the step's own infer reads from the spec (orientation, spacing, intensities) is
    what MONAI builds from inference.json."""
    bundle_dir = make_bundle(tmp_path)
    spec = read_bundle_spec(bundle_dir).model_copy(
        update={"normalization": normalization, "orientation": "LPS", "spacing": (1.5, 2.0, 3.0)}
    )
    save_bundle(bundle_dir, spec, load_bundle(bundle_dir).state_dicts[0])
    parser = ConfigParser()
    parser.read_config(str(bundle_dir / "configs" / "inference.json"))
    transforms = {
        type(t).__name__: t for t in parser.get_parsed_content("preprocessing").transforms
    }
    orientation = transforms["Orientationd"].ornt_transform
    assert orientation.axcodes == spec.orientation
    assert list(transforms["Spacingd"].spacing_transform.pixdim) == list(spec.spacing)
    probe = np.linspace(-300.0, 300.0, 7, dtype=np.float32)
    if isinstance(normalization, CTWindow):
        theirs = transforms["ScaleIntensityRanged"].scaler(probe)
    else:
        theirs = transforms["NormalizeIntensityd"].normalizer(probe)
    np.testing.assert_allclose(np.asarray(theirs), normalization.apply(probe.copy()), rtol=1e-6)


def test_changing_the_overlap_in_the_bundle_changes_the_windows_infer_runs(
    tmp_path: Path,
) -> None:
    bundle_dir = make_bundle(tmp_path)  # patch 32×32×16 over a 64×60×30 grid
    default = run_native(bundle_dir).times.windows
    set_stored(bundle_dir, inferer={"overlap": 0.75})
    denser = run_native(bundle_dir).times.windows
    # Window starts per axis (64/32, 60/32, 30/16 voxels): 3 at overlap 0.25, 5 at 0.75.
    assert (default, denser) == (3**3, 5**3)


def test_a_bundle_without_loss_window_or_network_kwargs_loads_with_defaults_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle_dir = make_bundle(tmp_path)
    set_stored(bundle_dir, loss=None, inferer=None, network={"name": "UNet", "kwargs": {}})
    with caplog.at_level(logging.INFO, logger="containers.common.bundle"):
        spec = read_bundle_spec(bundle_dir)
        # Infer reads the spec twice (its metadata first, the weights later): one line still.
        describe_model(bundle_dir)
        load_bundle(bundle_dir)
    lines = [r.getMessage() for r in caplog.records if "written before" in r.getMessage()]
    assert len(lines) == 1
    assert "loss (loss DiceCE)" in lines[0] and "inferer" in lines[0]
    assert "network kwargs" in lines[0]
    assert spec.loss == LossSpec()
    assert spec.loss.kwargs == {"to_onehot_y": True, "softmax": True}
    assert spec.inferer == InfererSpec()
    assert spec.sliding_window()["overlap"] == 0.25
    # Never `{}`: the kwargs it was built with, this project's defaults for the network.
    assert spec.network.kwargs == default_kwargs("UNet", spec.patch_size)
    save_bundle(bundle_dir / "again", spec, spec.build_network().state_dict())
    assert json.loads((bundle_dir / "again/configs/metadata.json").read_text())["xnat_monai"][
        "network"
    ]["kwargs"]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="containers.common.bundle"):
        read_bundle_spec(bundle_dir / "again")
    assert not [r for r in caplog.records if "written before" in r.getMessage()]


def test_infer_refuses_a_bundle_whose_two_configs_state_different_windows(
    tmp_path: Path,
) -> None:
    """`describe_model` (infer's first read of a bundle) holds inference.json to the spec."""
    bundle_dir = make_bundle(tmp_path)
    assert describe_model(bundle_dir).spec is not None
    set_stored(bundle_dir, inferer={"overlap": 0.5})
    with pytest.raises(UserError) as caught:
        describe_model(bundle_dir)
    assert "overlap 0.25 there but 0.5 in metadata.json" in str(caught.value)
    assert "\n" not in str(caught.value)
    config_path = bundle_dir / "configs" / "inference.json"
    config = json.loads(config_path.read_text())
    config["inferer"]["overlap"] = 0.5
    config_path.write_text(json.dumps(config))
    described = describe_model(bundle_dir)
    assert described.spec is not None and described.spec.sliding_window()["overlap"] == 0.5
    # A bundle from before the window was stored: its inference.json is not held to defaults.
    set_stored(bundle_dir, inferer=None)
    assert describe_model(bundle_dir).spec is not None


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("loss", {"name": "Tversky"}, "unknown loss 'Tversky': choose one of DiceCE,"),
        ("inferer", {"overlap": 1.0}, "inferer.overlap: Input should be less than 1"),
        ("inferer", {"sw_batch_size": 0}, "inferer.sw_batch_size: Input should be greater"),
    ],
)
def test_a_bundle_with_an_unknown_loss_or_a_bad_window_is_refused_naming_the_field(
    tmp_path: Path, field: str, value: dict[str, Any], problem: str
) -> None:
    bundle_dir = make_bundle(tmp_path)
    set_stored(bundle_dir, **{field: value})
    with pytest.raises(UserError, match=problem):
        read_bundle_spec(bundle_dir)


def test_the_infer_step_slides_the_window_its_bundle_states_and_reports_it(
    tmp_path: Path, series_dir: Path, tiny_bundle: Path
) -> None:
    """Through `python -m containers.infer`'s main: describe_model, load_native,
    segment_native and the report."""
    from containers.infer.__main__ import main

    def infer(output: Path) -> dict[str, Any]:
        args = ["--input", str(series_dir), "--model", str(tiny_bundle), "--output", str(output)]
        assert main([*args, "--device", "cpu"]) == 0
        return json.loads((output / "REPORT" / "report.json").read_text())  # type: ignore[no-any-return]

    before = infer(tmp_path / "a")
    assert before["provenance"]["model"]["sliding_window"]["overlap"] == 0.25
    set_stored(tiny_bundle, inferer={"overlap": 0.75})
    config_path = tiny_bundle / "configs" / "inference.json"
    config = json.loads(config_path.read_text())
    config["inferer"]["overlap"] = 0.75
    config_path.write_text(json.dumps(config))
    after = infer(tmp_path / "b")
    assert after["provenance"]["model"]["sliding_window"]["overlap"] == 0.75
    assert after["timings"]["windows"] > before["timings"]["windows"]
