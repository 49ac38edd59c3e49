"""The loss comes from a registry by name, and the bundle train writes is the whole model:
full network kwargs, loss, patch, sliding-window overlap and preprocessing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from monai.losses import DiceCELoss, DiceFocalLoss, DiceLoss

from containers.common import losses, networks
from containers.common.bundle import load_bundle, read_bundle_spec, save_bundle
from containers.common.bundle_spec import CTWindow
from containers.common.losses import build_loss, check_loss_name, loss_names
from containers.common.networks import NETWORK_NAMES, default_kwargs, network_names
from containers.infer.model_loading import describe_model
from containers.train.__main__ import build_parser, main, settings_from
from containers.train.bundle_output import bundle_spec
from containers.train.data_plan import DataPlan
from containers.train.distributed import Workers
from containers.train.settings import CPU_NETWORK_KWARGS, TrainSettings
from containers.train.trainer import SegmentationTrainer
from tests.train.project_archive import write_project_archive
from xnat_plugin.commands.catalogue.train import LOSSES, NETWORKS
from xnat_plugin.errors import UserError

LABELS = {"liver": 1, "spleen": 2}
PLAN = DataPlan(spacing=(2.0, 2.0, 3.0), window=CTWindow(a_min=-100.0, a_max=200.0))


def trainer(settings: TrainSettings) -> SegmentationTrainer:
    return SegmentationTrainer(settings, PLAN, LABELS, Workers(0, 1, torch.device("cpu")))


@pytest.mark.parametrize(
    ("name", "cls"), [("DiceCE", DiceCELoss), ("DiceFocal", DiceFocalLoss), ("Dice", DiceLoss)]
)
def test_the_trainer_builds_the_loss_its_settings_name(name: str, cls: type) -> None:
    loss = trainer(TrainSettings(model_name="m", loss=name)).loss_function()
    assert type(loss) is cls
    # Every registered loss takes logits and an integer label map (one-hot, softmax inside).
    logits = torch.randn(1, 3, 8, 8, 8)
    target = torch.randint(0, 3, (1, 1, 8, 8, 8))
    assert torch.isfinite(loss(logits, target))


def test_a_registered_loss_is_chosen_by_name_without_a_trainer_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Halved(torch.nn.Module):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

    monkeypatch.setattr(losses, "_LOSSES", dict(losses._LOSSES))
    losses.register_loss("Halved", Halved, {"scale": 0.5}, "a test loss")
    built = trainer(
        TrainSettings(model_name="m", loss="Halved", loss_kwargs={"scale": 0.25})
    ).loss_function()
    assert isinstance(built, Halved) and built.scale == 0.25


class Flat(torch.nn.Module):
    """A one-layer network: what a registered network needs is this constructor shape."""

    def __init__(
        self, spatial_dims: int, in_channels: int, out_channels: int, width: int = 4
    ) -> None:
        super().__init__()
        self.width = width
        self.layers = torch.nn.Sequential(
            torch.nn.Conv3d(in_channels, width, 3, padding=1),
            torch.nn.Conv3d(width, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


def test_a_registered_network_trains_and_round_trips_through_a_bundle_without_a_trainer_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(networks, "_NETWORKS", dict(networks._NETWORKS))
    networks.register_network("Flat", lambda: Flat, lambda patch: {"width": 6}, lambda k: (1, 1, 1))
    assert "Flat" in network_names()
    settings = TrainSettings(model_name="m", network="Flat", patch_size=(16, 16, 8))
    built = trainer(settings).network()
    assert isinstance(built, Flat) and built.width == 6
    spec = bundle_spec(settings, {}, PLAN, LABELS, training={})
    assert spec.network.kwargs == {"width": 6}  # every constructor argument but the given ones
    save_bundle(tmp_path / "m", spec, built.state_dict())
    (model,) = load_bundle(tmp_path / "m").build_models()
    assert model(torch.zeros(1, 1, 16, 16, 8)).shape == (1, 3, 16, 16, 8)
    args = build_parser().parse_args(
        ["--project", "P", "--model-name", "m", "--output", "o", "--network", "Flat"]
    )
    assert settings_from(args).network == "Flat"


def test_an_unknown_loss_is_refused_in_one_line_naming_the_choices() -> None:
    with pytest.raises(UserError) as caught:
        build_loss("Tversky")
    message = str(caught.value)
    assert (
        message == "unknown loss 'Tversky': choose one of DiceCE, DiceFocal, Dice, GeneralizedDice"
    )
    assert "\n" not in message
    with pytest.raises(UserError, match="unknown loss 'dice'"):
        check_loss_name("dice")


def test_the_train_command_line_refuses_an_unknown_loss_with_its_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(
            ["--project", "P", "--model-name", "m", "--output", "o", "--loss", "Tversky"]
        )
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "invalid choice: 'Tversky'" in error and "DiceFocal" in error
    args = build_parser().parse_args(
        ["--project", "P", "--model-name", "m", "--output", "o", "--loss", "DiceFocal"]
    )
    assert settings_from(args).loss == "DiceFocal"


def test_checkpoints_resume_across_the_loss_setting_only_for_the_loss_they_were_trained_with() -> (
    None
):
    """A checkpoint resumes when its fingerprint matches (SegmentationTrainer.train_fold)."""
    default = TrainSettings(model_name="m").fingerprint()
    assert "loss" not in default  # as fingerprints were before the loss was a setting
    assert TrainSettings(model_name="m", loss="DiceFocal").fingerprint()["loss"] == "DiceFocal"
    tuned = TrainSettings(model_name="m", loss_kwargs={"lambda_ce": 2.0}).fingerprint()
    assert tuned != default


def test_the_catalogue_offers_exactly_the_registered_networks_and_losses() -> None:
    assert tuple(NETWORKS) == NETWORK_NAMES
    assert tuple(LOSSES) == loss_names()


def test_the_spec_train_writes_holds_the_whole_network_loss_window_and_preprocessing() -> None:
    settings = TrainSettings(
        model_name="m", loss="DiceFocal", loss_kwargs={"gamma": 3.0}, val_overlap=0.4
    )
    spec = bundle_spec(settings, CPU_NETWORK_KWARGS["UNet"], PLAN, LABELS, training={})
    kwargs = spec.network.kwargs
    # Every constructor argument, not only the ones given or this project's defaults.
    assert kwargs["channels"] == CPU_NETWORK_KWARGS["UNet"]["channels"]
    assert {"kernel_size", "up_kernel_size", "act", "dropout", "bias"} <= set(kwargs)
    assert set(default_kwargs("UNet", settings.patch_size)) <= set(kwargs)
    assert spec.loss.name == "DiceFocal"
    assert spec.loss.kwargs["gamma"] == 3.0
    assert spec.loss.kwargs["to_onehot_y"] is True and spec.loss.kwargs["softmax"] is True
    assert spec.inferer.overlap == 0.4
    assert spec.patch_size == settings.patch_size
    assert spec.sliding_window()["roi_size"] == list(settings.patch_size)
    assert (spec.spacing, spec.orientation, spec.normalization) == (
        PLAN.spacing,
        PLAN.orientation,
        PLAN.window,
    )


@pytest.mark.slow
def test_a_bundle_written_by_train_carries_the_model_description(tmp_path: Path) -> None:
    project = write_project_archive(tmp_path / "P", 2)
    output = tmp_path / "out"
    code = main(
        [
            "--project", "P", "--model-name", "m", "--output", str(output),
            "--project-dir", str(project), "--epochs", "1", "--steps-per-epoch", "1",
            "--patch-size", "32,32,16", "--device", "cpu", "--loss", "DiceFocal",
        ]
    )  # fmt: skip
    assert code == 0
    bundle = output / "m"
    stored: dict[str, Any] = json.loads((bundle / "configs" / "metadata.json").read_text())[
        "xnat_monai"
    ]
    assert stored["loss"]["name"] == "DiceFocal"
    assert stored["loss"]["kwargs"]["to_onehot_y"] is True
    assert stored["network"]["kwargs"]["channels"] == CPU_NETWORK_KWARGS["UNet"]["channels"]
    assert "dropout" in stored["network"]["kwargs"]
    assert stored["inferer"] == {"overlap": 0.25, "sw_batch_size": 1, "mode": "gaussian"}
    assert stored["patch_size"] == [32, 32, 16]
    assert stored["normalization"]["kind"] == "ct_window"
    assert stored["training"]["settings"]["loss"] == "DiceFocal"
    spec = read_bundle_spec(bundle)
    inferer = json.loads((bundle / "configs" / "inference.json").read_text())["inferer"]
    assert inferer == {"_target_": "SlidingWindowInferer", **spec.sliding_window()}
    card = (bundle / "docs" / "README.md").read_text()
    assert "| loss | DiceFocal |" in card
    assert "| patch | 32 × 32 × 16 voxels, sliding-window overlap 0.25 |" in card, card
    described = describe_model(bundle)  # infer's first read: the two configs agree
    assert described.spec is not None and described.spec.loss.name == "DiceFocal"
