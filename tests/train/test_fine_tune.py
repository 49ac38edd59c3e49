"""Fine-tuning (`--init-from`, containers.train.init_from): a parent bundle's network, weights,
channels and preprocessing are the start; the project's labels map onto its channels by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from containers.train.data_plan import DataPlan, plan_from_cases
from containers.train.distributed import Workers
from containers.train.init_from import map_labels, read_parent, remap_cases
from containers.train.settings import TrainSettings
from containers.train.trainer import SegmentationTrainer
from tests.bundles import tiny_bundle as our_bundle
from tests.monai_bundles import tiny_bundle, tiny_inference_config
from tests.train.project_archive import phantom_case
from xnat_plugin.errors import UserError

CPU = Workers(rank=0, world_size=1, device=torch.device("cpu"))


def test_a_monai_bundle_parent_gives_its_network_window_spacing_and_channels(tmp_path: Path):
    bundle = tiny_bundle(tmp_path, "zoo", labels=["spleen", "liver"], seed=4)
    parent = read_parent(bundle)
    assert (parent.kind, parent.network, parent.labels) == (
        "MONAI bundle", "UNet", {"spleen": 1, "liver": 2}
    )  # fmt: skip
    assert (parent.orientation, parent.spacing) == ("RAS", (2.0, 2.0, 2.0))
    assert (parent.window.a_min, parent.window.a_max) == (-100.0, 200.0)
    # Every constructor argument is kept, not only those the config names.
    assert parent.network_kwargs["channels"] == [4, 8]
    assert parent.network_kwargs["num_res_units"] == 1 and "kernel_size" in parent.network_kwargs
    saved = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], parent.state[k]) for k in saved)
    json.dumps(parent.network_kwargs)  # stored in the new bundle's metadata


def test_our_own_bundle_is_a_parent_too(tmp_path: Path) -> None:
    parent = read_parent(our_bundle(tmp_path, name="organs"))
    assert parent.kind == "xnat-monai bundle" and parent.labels == {
        "liver": 1, "spleen": 2, "kidney": 3
    }  # fmt: skip
    assert parent.spacing == (4.0, 4.0, 5.0)


def test_a_parent_whose_preprocessing_cannot_be_reproduced_is_refused(tmp_path: Path) -> None:
    config = tiny_inference_config(3)
    config["preprocessing"]["transforms"][4] = {"_target_": "NormalizeIntensityd", "keys": "image"}
    bundle = tiny_bundle(tmp_path, "per_image", config=config)
    with pytest.raises(UserError, match="preprocesses with NormalizeIntensityd"):
        read_parent(bundle)


def test_project_labels_map_onto_parent_channels_by_name_and_a_subset_is_allowed() -> None:
    mapping = map_labels(
        {"Liver": 1, "spleen": 2, "kidney": 3}, {"spleen": 1, "liver": 2, "pancreas": 3}, "p"
    )
    assert mapping.mapped == {"Liver": "liver", "spleen": "spleen"}
    assert mapping.values == {1: 2, 2: 1}
    assert (mapping.unmapped_project, mapping.untrained_parent) == (["kidney"], ["pancreas"])
    case = phantom_case(1)
    (remapped,) = remap_cases([case], mapping, {"spleen": 1, "liver": 2, "pancreas": 3})
    assert np.array_equal(remapped.label == 2, case.label == 1)  # liver → channel 2
    assert np.array_equal(remapped.label == 1, case.label == 2)  # spleen → channel 1
    assert not np.any(remapped.label == 3)  # kidney has no channel: background
    with pytest.raises(UserError, match="none of the project's labels"):
        map_labels({"kidney": 1}, {"spleen": 1}, "p")


def _dice_on(trainer: SegmentationTrainer, state: dict, cases: list) -> float:
    network = trainer.network()
    network.load_state_dict(state)
    items = [trainer.val_pre_transforms()(c) for c in (_item(c) for c in cases)]
    return trainer.validate(network, items)[0]


def _item(case):  # noqa: ANN001, ANN202
    from containers.train.transforms import case_item

    return case_item(case)


@pytest.mark.slow
def test_fine_tuning_beats_training_from_scratch_on_a_new_sites_few_sessions() -> None:
    """A parent trained on site A, fine-tuned on two site-B sessions, segments held-out site-B
    sessions better than a model trained from scratch on those two in as many epochs."""
    # One organ (the liver) so the parent learns it in a test's budget; site-B sessions
    # are even-numbered (sites take turns).
    liver = map_labels({"liver": 1, "spleen": 2, "kidney": 3}, {"liver": 1}, "liver only")
    labels = {"liver": 1}

    def cases(indices: tuple[int, ...]) -> list:
        return remap_cases([phantom_case(i, seed=2) for i in indices], liver, labels)

    site_a, site_b_train, site_b_test = cases((1, 3, 5, 7)), cases((2, 4)), cases((6, 8))
    # Few long epochs for the parent (validation runs once per epoch and dominates the time),
    # then one short epoch for each of the two compared models.
    parent_settings = TrainSettings(
        model_name="m", epochs=2, patch_size=(32, 32, 16), steps_per_epoch=40, learning_rate=5e-3
    )
    plan = plan_from_cases(site_a)
    parent = SegmentationTrainer(parent_settings, plan, labels, CPU).train_fold(
        0, site_a[:-1], site_a[-1:], None
    )
    short = TrainSettings(**{**parent_settings.__dict__, "epochs": 1, "steps_per_epoch": 6})
    target_plan = DataPlan(spacing=plan.spacing, window=plan.window)  # the parent's, kept
    tuned = SegmentationTrainer(
        short, target_plan, labels, CPU, initial_state=parent.best_state
    ).train_fold(0, site_b_train, site_b_train[:1], None)
    scratch_trainer = SegmentationTrainer(short, target_plan, labels, CPU)
    scratch = scratch_trainer.train_fold(0, site_b_train, site_b_train[:1], None)

    tuned_dice = _dice_on(scratch_trainer, tuned.best_state, site_b_test)
    scratch_dice = _dice_on(scratch_trainer, scratch.best_state, site_b_test)
    assert tuned_dice > scratch_dice + 0.1, (tuned_dice, scratch_dice)


@pytest.mark.slow
def test_train_step_fine_tunes_a_monai_bundle_and_records_its_parent(tmp_path: Path) -> None:
    """`--init-from` a bundle folder, through the step as users run it (mounted archive)."""
    from containers.train.__main__ import main
    from tests.train.project_archive import write_project_archive
    from xnat_plugin.models.layout import code_checksum, weights_checksum

    parent = tiny_bundle(tmp_path / "zoo", "abdomen_zoo", labels=["Spleen", "pancreas"], seed=7)
    archive = write_project_archive(tmp_path / "project", 3, seed=3)
    output = tmp_path / "out"
    code = main(
        ["--project", "P", "--model-name", "tuned", "--output", str(output),
         "--project-dir", str(archive), "--init-from", str(parent), "--epochs", "1",
         "--patch-size", "32,32,16", "--steps-per-epoch", "2", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    spec = json.loads((output / "tuned" / "configs" / "metadata.json").read_text())["xnat_monai"]
    assert spec["labels"] == {"Spleen": 1, "pancreas": 2}  # the parent's channels
    assert spec["spacing"] == [2.0, 2.0, 2.0]
    assert spec["normalization"] == {"kind": "ct_window", "a_min": -100.0, "a_max": 200.0}
    assert spec["network"]["name"] == "UNet" and spec["network"]["kwargs"]["channels"] == [4, 8]
    record = spec["training"]["parent"]
    assert record["name"] == "abdomen_zoo" and record["kind"] == "MONAI bundle"
    assert record["label_mapping"] == {"spleen": "Spleen"}
    assert record["unmapped_project_labels"] == ["liver", "kidney"]
    assert record["channels_without_references"] == ["pancreas"]
    assert record["code_sha256"] == code_checksum(parent)
    assert record["weights_sha256"] == weights_checksum(parent)


@pytest.mark.slow  # `models add` checks the bundle in a child process that imports MONAI
def test_a_parent_named_by_model_is_fetched_from_the_projects_monai_models(
    sandbox, tmp_path: Path
) -> None:
    """`--init-from NAME` as the train command passes it: the model `xnat-monai models add`
    uploaded to the project's MONAI_MODELS, read back over REST into scratch, checksums
    unchanged. The listing is XNAT's FileList (org.nrg.xnat.restlet.resources.files, GET on
    /data/projects/P/resources/MONAI_MODELS/files: one row per file with its URI); each file is
    then fetched by that URI."""
    from containers.train.init_from import parent_folder
    from xnat_plugin.cli import main
    from xnat_plugin.client import connect
    from xnat_plugin.client.objects import ensure_project
    from xnat_plugin.models.layout import code_checksum, weights_checksum

    bundle = tiny_bundle(tmp_path / "zoo", "abdomen_zoo", labels=["spleen", "liver"], seed=3)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ensure_project(client, "LIB")
    assert main(
        ["models", "add", str(bundle), "--xnat", sandbox.url, "--project", "LIB",
         "--user", "admin", "--password", "admin"]
    ) == 0  # fmt: skip
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        fetched = parent_folder("abdomen_zoo", "LIB", client, scratch)
        with pytest.raises(UserError, match="has no model 'other'"):
            parent_folder("other", "LIB", client, scratch)
        with pytest.raises(UserError, match="model name"):
            parent_folder("..", "LIB", client, scratch)
    assert fetched.is_relative_to(scratch)
    assert code_checksum(fetched) == code_checksum(bundle)
    assert weights_checksum(fetched) == weights_checksum(bundle)
    parent = read_parent(fetched)
    assert parent.labels == {"spleen": 1, "liver": 2} and parent.name == "abdomen_zoo"
    with pytest.raises(UserError, match="not a bundle folder"):
        parent_folder(str(tmp_path / "nowhere"), "LIB", None, scratch)


@pytest.mark.slow
def test_the_model_zoo_spleen_bundle_fine_tunes_through_the_same_path(
    reference_dir: Path, tmp_path: Path
) -> None:
    """The zoo's spleen_ct_segmentation (configs unchanged, random weights from its own
    network_def) as `--init-from`: the project's spleen maps onto its one channel, the new
    bundle keeps its UNet, 1.5x1.5x2 mm and -57..164 window, and infer reads it back."""
    from containers.infer.model_loading import describe_model
    from containers.train.__main__ import main
    from tests.monai_bundles import zoo_bundle
    from tests.train.project_archive import write_project_archive

    parent = zoo_bundle(reference_dir, "spleen_ct_segmentation", tmp_path / "zoo")
    archive = write_project_archive(tmp_path / "project", 3, seed=5)
    output = tmp_path / "out"
    code = main(
        ["--project", "P", "--model-name", "spleen_tuned", "--output", str(output),
         "--project-dir", str(archive), "--init-from", str(parent), "--epochs", "1",
         "--patch-size", "32,32,16", "--steps-per-epoch", "2", "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    tuned = output / "spleen_tuned"
    spec = json.loads((tuned / "configs" / "metadata.json").read_text())["xnat_monai"]
    assert spec["labels"] == {"spleen": 1}
    assert spec["spacing"] == [1.5, 1.5, 2.0]
    assert spec["normalization"] == {"kind": "ct_window", "a_min": -57.0, "a_max": 164.0}
    kwargs = spec["network"]["kwargs"]
    assert spec["network"]["name"] == "UNet" and kwargs["channels"] == [16, 32, 64, 128, 256]
    assert kwargs["norm"] == "batch" and kwargs["num_res_units"] == 2
    record = spec["training"]["parent"]
    assert (record["name"], record["kind"]) == ("spleen_ct_segmentation", "MONAI bundle")
    assert record["label_mapping"] == {"spleen": "spleen"}
    assert record["unmapped_project_labels"] == ["liver", "kidney"]
    assert describe_model(tuned).labels == {"spleen": 1}
