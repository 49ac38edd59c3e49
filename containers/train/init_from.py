"""Fine-tuning: start training from a bundle instead of random weights (`--init-from`).

The parent is a bundle our train step wrote, or any MONAI segmentation bundle whose network is
one of ours (UNet, SegResNet, SwinUNETR, DynUNet) with one input channel and exclusive classes.
The new model keeps the parent's network (every constructor argument, its weights as the
start), its output channels and its preprocessing (orientation, spacing, CT window), so the
weights keep seeing what they were trained on; a parent that does not resample takes the
data's median spacing.

The project's reference segment names are mapped onto the parent's channels by name (case,
spaces, '_' and '-' aside). A subset is allowed: a project label the parent lacks is left out
(its voxels count as background), a parent channel without references is trained as background;
both are logged and recorded in the new bundle, with the parent's name and checksums.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from containers.common.bundle_spec import CTWindow
from containers.common.networks import NETWORK_NAMES, complete_kwargs
from containers.common.segment_codes import normalise_name
from containers.train.cases import TrainingCase
from containers.train.data_plan import DataPlan
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import (
    MODELS_RESOURCE,
    SPEC_KEY,
    bundle_format,
    check_model_name,
    code_checksum,
    read_metadata,
    weights_checksum,
)

if TYPE_CHECKING:
    import torch

    from xnat_plugin.client.connection import XnatClient

log = logging.getLogger(__name__)

# What a parent's preprocessing may do beyond orientation, spacing and the CT window.
_PASS_THROUGH = {"LoadImaged", "EnsureChannelFirstd", "EnsureTyped", "CastToTyped"}
_NOT_ARGUMENTS = {"_target_", "_requires_", "_disabled_", "_desc_", "_mode_"}


@dataclass(frozen=True)
class ParentModel:
    """What fine-tuning takes from the parent bundle."""

    root: Path
    name: str
    version: str
    kind: str  # "xnat-monai bundle" or "MONAI bundle"
    network: str
    network_kwargs: dict[str, Any]
    labels: dict[str, int]  # its output channels (1..n; 0 is background)
    orientation: str
    spacing: tuple[float, float, float] | None  # None: the parent does not resample
    window: CTWindow
    state: dict[str, torch.Tensor] = field(repr=False)

    def plan(self, data_plan: DataPlan) -> DataPlan:
        """The parent's preprocessing (the data's spacing where the parent has none)."""
        return DataPlan(
            spacing=self.spacing or data_plan.spacing,
            window=self.window,
            orientation=self.orientation,
        )

    def record(self, mapping: LabelMapping) -> dict[str, Any]:
        """What the new bundle records of its parent."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "network": self.network,
            "code_sha256": code_checksum(self.root),
            "weights_sha256": weights_checksum(self.root),
            "label_mapping": mapping.mapped,
            "unmapped_project_labels": mapping.unmapped_project,
            "channels_without_references": mapping.untrained_parent,
        }


@dataclass(frozen=True)
class LabelMapping:
    """Project label values → parent channel values, and what did not map."""

    values: dict[int, int]  # project value → parent value (absent: background)
    mapped: dict[str, str]  # project name → parent name
    unmapped_project: list[str]
    untrained_parent: list[str]


def parent_folder(init_from: str, project: str, client: XnatClient | None, scratch: Path) -> Path:
    """A bundle folder given as a path (it has a '/'), else the model of that name in the
    project's MONAI_MODELS, fetched over REST."""
    if "/" in init_from:
        local = Path(init_from)
        if not (local / "configs").is_dir():
            raise UserError(
                f"--init-from {init_from}: not a bundle folder (no configs/); give a bundle "
                "folder, or the name of a model in the project's MONAI_MODELS"
            )
        return local
    name = check_model_name(init_from)
    if client is None:
        raise UserError(
            f"--init-from {init_from!r} is not a folder and XNAT is not reachable (XNAT_HOST "
            f"unset) to fetch it from {project}/{MODELS_RESOURCE}"
        )
    from xnat_plugin.client import paths
    from xnat_plugin.client.browse import list_files
    from xnat_plugin.client.transfer import download_file

    files = [
        f
        for f in list_files(client, paths.project(project), MODELS_RESOURCE)
        if f.path.startswith(f"{name}/")
    ]
    if not files:
        raise UserError(
            f"--init-from {name}: project {project} has no model {name!r} in {MODELS_RESOURCE}; "
            "'xnat-monai models list' shows what it holds"
        )
    target = Path(tempfile.mkdtemp(prefix="parent-", dir=scratch)) / name
    for file in files:
        relative = file.path[len(name) + 1 :]
        destination = (target / relative).resolve()
        if not destination.is_relative_to(target.resolve()):
            raise UserError(f"{MODELS_RESOURCE} file {file.path!r} points outside the model")
        download_file(client, file.uri, destination)
    log.info("fetched %d files of %s from %s/%s", len(files), name, project, MODELS_RESOURCE)
    return target


def read_parent(root: Path) -> ParentModel:
    """The parent's network, weights, channels and preprocessing; refuses what cannot be
    fine-tuned here with one line."""
    metadata = read_metadata(root)
    if SPEC_KEY in metadata:
        return _our_parent(root)
    return _monai_parent(root, metadata)


def _our_parent(root: Path) -> ParentModel:
    from containers.common.bundle import load_bundle

    bundle = load_bundle(root)
    spec = bundle.spec
    if not isinstance(spec.normalization, CTWindow):
        raise UserError(
            f"model {spec.model_name} normalises by z-score: fine-tuning needs a CT window"
        )
    primary = (
        bundle.member_names.index("models/model.pt")
        if "models/model.pt" in bundle.member_names
        else 0
    )
    return ParentModel(
        root=root,
        name=spec.model_name,
        version=spec.version,
        kind="xnat-monai bundle",
        network=spec.network.name,
        network_kwargs=complete_kwargs(spec.network.name, spec.network_kwargs()),
        labels=dict(spec.labels),
        orientation=spec.orientation,
        spacing=spec.spacing,
        window=spec.normalization,
        state=bundle.state_dicts[primary],
    )


def _monai_parent(root: Path, metadata: dict[str, Any]) -> ParentModel:
    from containers.common.bundle_pipeline import build_network, read_config
    from containers.infer.model_loading import load_weights

    fmt = bundle_format(metadata, root / "configs" / "metadata.json")
    if len(fmt.input_channels) != 1 or not fmt.exclusive:
        raise UserError(
            f"model {root.name} takes {len(fmt.input_channels)} input channel(s) with "
            f"{'exclusive classes' if fmt.exclusive else 'one mask per output'}: fine-tuning "
            "here needs one input channel and exclusive classes with a background channel"
        )
    network = build_network(root)
    load_weights(network, root)
    name = type(network).__name__
    if name not in NETWORK_NAMES:
        raise UserError(
            f"model {root.name}'s network is {name}; fine-tuning here trains "
            f"{', '.join(NETWORK_NAMES)}"
        )
    _path, raw = read_config(root)
    arguments = _network_arguments(raw, root)
    if int(arguments.pop("spatial_dims", 3)) != 3:
        raise UserError(f"model {root.name} is not a 3-D network")
    orientation, spacing, window = _preprocessing(root)
    return ParentModel(
        root=root,
        name=root.name,
        version=str(metadata.get("version", "unknown")),
        kind="MONAI bundle",
        network=name,
        network_kwargs=complete_kwargs(name, arguments),
        labels=dict(fmt.labels),
        orientation=orientation,
        spacing=spacing,
        window=window,
        state={k: v.detach().cpu() for k, v in network.state_dict().items()},
    )


def _network_arguments(raw: dict[str, Any], root: Path) -> dict[str, Any]:
    """network_def's arguments with references resolved (MONAI's ConfigParser, data only)."""
    from monai.bundle import ConfigParser

    from containers.common.bundle_trust import declarative_view

    view = declarative_view(raw, ("network_def",))
    parser = ConfigParser(config=view.config if not view.problems else raw)
    keys = [
        k
        for k in raw["network_def"]
        if k not in _NOT_ARGUMENTS and k not in ("in_channels", "out_channels")
    ]
    return {k: parser.get_parsed_content(f"network_def#{k}", instantiate=False) for k in keys}


def _preprocessing(root: Path) -> tuple[str, tuple[float, float, float] | None, CTWindow]:
    """Orientation, spacing and CT window from the bundle's own preprocessing transforms."""
    from containers.common.bundle_pipeline import build_items

    (preprocessing,) = build_items(root, ("preprocessing",))
    orientation, spacing, window = "RAS", None, None
    for transform in getattr(preprocessing, "transforms", ()):
        kind = type(transform).__name__
        if kind == "Orientationd":
            orientation = str(transform.ornt_transform.axcodes)
        elif kind == "Spacingd":
            pixdim = [float(v) for v in transform.spacing_transform.pixdim]
            spacing = (pixdim[0], pixdim[1], pixdim[2]) if len(pixdim) == 3 else None
        elif kind == "ScaleIntensityRanged":
            scaler = transform.scaler
            if (scaler.b_min, scaler.b_max, bool(scaler.clip)) != (0.0, 1.0, True):
                raise UserError(
                    f"model {root.name} scales intensities to {scaler.b_min}..{scaler.b_max}: "
                    "fine-tuning here reproduces a CT window to 0..1 with clipping"
                )
            window = CTWindow(a_min=float(scaler.a_min), a_max=float(scaler.a_max))
        elif kind not in _PASS_THROUGH:
            raise UserError(
                f"model {root.name} preprocesses with {kind}, which the train step does not "
                "reproduce: fine-tuning here needs orientation, spacing and a CT window "
                "(ScaleIntensityRanged) only"
            )
    if window is None:
        raise UserError(
            f"model {root.name} has no CT window (ScaleIntensityRanged) in its preprocessing: "
            "fine-tuning here needs one"
        )
    return orientation, spacing, window


def map_labels(project: dict[str, int], parent: dict[str, int], parent_name: str) -> LabelMapping:
    """Project labels onto the parent's channels by normalised name."""
    by_name = {normalise_name(name): name for name in parent}
    mapped = {p: by_name[normalise_name(p)] for p in project if normalise_name(p) in by_name}
    if not mapped:
        raise UserError(
            f"none of the project's labels ({', '.join(project)}) is a channel of model "
            f"{parent_name} ({', '.join(parent)}): fine-tuning needs at least one in common"
        )
    unmapped = [p for p in project if p not in mapped]
    untrained = [c for c in parent if c not in mapped.values()]
    if unmapped:
        log.warning(
            "labels %s are not channels of %s: their voxels count as background",
            ", ".join(unmapped),
            parent_name,
        )
    if untrained:
        log.warning(
            "channels %s of %s have no references in this project: trained as background",
            ", ".join(untrained),
            parent_name,
        )
    return LabelMapping(
        values={project[p]: parent[c] for p, c in mapped.items()},
        mapped=mapped,
        unmapped_project=unmapped,
        untrained_parent=untrained,
    )


def remap_cases(
    cases: Sequence[TrainingCase], mapping: LabelMapping, parent_labels: dict[str, int]
) -> list[TrainingCase]:
    """Each case's label map in the parent's values (unmapped labels become background)."""
    table = np.zeros(256, dtype=np.uint8)
    for project_value, parent_value in mapping.values.items():
        table[project_value] = parent_value
    return [
        dataclasses.replace(case, label=table[case.label], labels=dict(parent_labels))
        for case in cases
    ]
