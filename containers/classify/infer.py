"""`python -m containers.classify infer`: classify one session's CT scan and explain the decision.

    python -m containers.classify infer --session-id ID --project P --model-name NAME
        --model MODELS_DIR --output DIR [--input SCAN_DICOM_DIR --scan-id S]
        [--subject S] [--session-label L] [--assessor-label L] [--project-dir DIR]
        [--device auto|cpu|cuda] [scan rule options]

The scan: `--input` (the Container Service mounts the scan its scan rule chose), else the one
scan of the session that the scan rule picks (`containers.train.scan_choice`, as train and the
segmentation infer choose), its DICOM found in `--project-dir` through XNAT's catalog or
downloaded. The model: `--model-name` inside `--model` (a project's MONAI_MODELS), a bundle
written by `classify train` (its metadata names the classes, the network and the
preprocessing). Every fold model of the bundle runs; the probabilities are the mean of the
members' softmax outputs.

Into `--output`, all together or nothing (`containers.common.step.staged_output`):

    assessor.xml                  xnat:qcAssessmentData: statistics `prob_<class>` on the scan,
                                  the predicted class as the assessor field `predicted_class`
    REPORT/classification.json    probabilities, predicted class, explanation, provenance
    REPORT/explanation.png        the Grad-CAM map over the slices that matter, with the
                                  probabilities in the caption
    EXPLANATION/gradcam_NNN.dcm   the same slices as a DICOM Secondary Capture series in the
                                  source study, referencing the source series and slices

A scan the model cannot read (not CT, one slice) is refused in one line before the networks
load. This module imports neither torch nor MONAI at the top.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from containers.common.model_folder import check_model_name, model_folder
from containers.common.provenance import Provenance
from containers.common.step import StepRecord, require_empty_output, staged_output
from containers.train.scan_choice import add_scan_rule_arguments, scan_rule_from
from xnat_plugin.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from containers.classify.cases import Preprocessing
    from containers.common.dicom_series import Series
    from xnat_plugin.client.connection import XnatClient

log = logging.getLogger("containers.classify")

STEP = "classify infer"
PROBABILITY_PREFIX = "prob_"
PREDICTED_FIELD = "predicted_class"
MODEL_FIELD = "model"
QC_TYPE = "monai-classification"
EXPLANATION_FOLDER = "EXPLANATION"
MODALITY = "CT"  # the bundle's preprocessing is a window in Hounsfield units


def add_infer_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--session-id", required=True, help="the image session's XNAT ID")
    p.add_argument("--project", required=True, help="XNAT project ID")
    p.add_argument("--model-name", required=True, help="the model's folder in --model")
    p.add_argument(
        "--model", required=True, type=Path, help="folder of models (a project's MONAI_MODELS)"
    )
    p.add_argument("--output", required=True, type=Path, help="empty output folder")
    p.add_argument(
        "--input",
        type=Path,
        help="the scan's DICOM folder (default: the session's scan the scan rule picks, read "
        "through XNAT)",
    )
    p.add_argument("--scan-id", help="XNAT ID of the --input scan")
    p.add_argument("--subject", help="the subject's XNAT ID (recorded in the report)")
    p.add_argument("--session-label", help="the session's label (default: asked of XNAT)")
    p.add_argument("--assessor-label", help="default: <session>_monai_<model>_<time>")
    p.add_argument(
        "--project-dir", type=Path, help="mounted project archive (read through XNAT's catalog)"
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--explain-layer",
        default="",
        metavar="MODULE",
        help="the convolution Grad-CAM reads (default: the network's last), e.g. layer2.1.conv2",
    )
    add_scan_rule_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")


# ── the model ───────────────────────────────────────────────────────────────────────────────


@dataclass
class ClassifierBundle:
    """A `classify train` bundle, read from its metadata (no torch needed)."""

    root: Path
    name: str
    version: str
    network: str
    classes: list[str]
    preprocessing: Preprocessing
    member_files: list[Path]  # models/fold_K/model.pt, else models/model.pt
    members: list[Any] = field(default_factory=list)  # the loaded networks


def read_classifier_bundle(folder: Path) -> ClassifierBundle:
    from containers.classify.bundle_output import CLASSIFIER_KEY, class_names
    from containers.classify.cases import CROPS, Preprocessing
    from containers.common.bundle_spec import CTWindow

    metadata_file = folder / "configs" / "metadata.json"
    try:
        metadata = json.loads(metadata_file.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"model {folder.name}: cannot read {metadata_file} ({exc})") from exc
    record = metadata.get(CLASSIFIER_KEY)
    if not isinstance(record, dict):
        raise UserError(
            f"model {folder.name} is not a classifier from `classify train` (its metadata has "
            f"no {CLASSIFIER_KEY!r}): choose a classification model of MONAI_MODELS"
        )
    prep = record["preprocessing"]
    window = prep["intensity_window"]
    preprocessing = Preprocessing(
        spacing=tuple(float(v) for v in prep["spacing_mm"]),  # type: ignore[arg-type]
        roi_size=tuple(int(v) for v in prep["roi_size"]),  # type: ignore[arg-type]
        window=CTWindow(a_min=float(window["a_min"]), a_max=float(window["a_max"])),
        orientation=str(prep.get("orientation", "RAS")),
        # Bundles written before the body crop padded or cropped about the centre only.
        crop=str(prep.get("crop_to", "centre")),
    )
    if preprocessing.crop not in CROPS:
        raise UserError(
            f"model {folder.name}: unknown crop_to {preprocessing.crop!r} in its preprocessing "
            f"(this step knows {', '.join(CROPS)}): retrain it with `classify train`"
        )
    folds = sorted(
        (folder / "models").glob("fold_*/model.pt"), key=lambda p: int(p.parent.name[5:])
    )
    members = folds or [folder / "models" / "model.pt"]
    if not all(p.is_file() for p in members):
        raise UserError(f"model {folder.name} has no weights in {folder / 'models'}")
    classes = class_names(metadata)
    if len(classes) < 2:
        raise UserError(f"model {folder.name} names fewer than two classes in its channel_def")
    return ClassifierBundle(
        root=folder,
        name=folder.name,
        version=str(metadata.get("version", "")),
        network=str(record["network"]),
        classes=classes,
        preprocessing=preprocessing,
        member_files=members,
    )


def load_members(bundle: ClassifierBundle, device: torch.device) -> list[torch.nn.Module]:
    import torch

    from containers.classify.networks import build_classifier

    networks = []
    for path in bundle.member_files:
        network = build_classifier(bundle.network, len(bundle.classes))
        state = torch.load(path, map_location=device, weights_only=True)
        network.load_state_dict(state, strict=True)
        networks.append(network.to(device).eval())
    return networks


# ── the scan ────────────────────────────────────────────────────────────────────────────────


@dataclass
class SessionScan:
    session_id: str
    session_label: str
    subject: str
    scan_id: str
    dicom_dir: Path


def find_scan(args: argparse.Namespace, client: XnatClient | None, scratch: Path) -> SessionScan:
    """The scan to classify: --input, else the scan rule's choice among the session's scans."""
    has_input = args.input is not None and any(p.is_file() for p in args.input.rglob("*"))
    session_json: dict[str, Any] = {}
    if client is not None and (not has_input or not args.session_label):
        from xnat_plugin.runner.xnat_objects import XnatObjectLoader

        session_json = XnatObjectLoader(client, with_files=False).experiment(args.session_id).json
    label = args.session_label or str(session_json.get("label", ""))
    if not label:
        raise UserError(
            "the session's label is unknown: give --session-label, or XNAT_HOST, XNAT_USER "
            "and XNAT_PASS to ask XNAT"
        )
    subject = args.subject or str(session_json.get("subject-id", ""))
    if has_input:
        if not args.scan_id:
            raise UserError("--input needs --scan-id: the assessor records which scan it describes")
        return SessionScan(args.session_id, label, subject, args.scan_id, args.input)
    if client is None:
        raise UserError(
            f"no scan given: --input {args.input} holds no files and XNAT_HOST is not set; give "
            "the scan's DICOM folder, or run through the container service"
        )
    from containers.common.resource_files import resource_folder
    from containers.train.scan_choice import choose_scan
    from xnat_plugin.client import paths
    from xnat_plugin.commands.scan_rule import IMAGE_RESOURCE

    choice = choose_scan(session_json.get("scans", []), scan_rule_from(args))
    if choice.scan is None:
        raise UserError(f"session {label}: {choice.reason}")
    scan_id = str(choice.scan["id"])
    dicom_dir = resource_folder(
        client,
        paths.scan(args.session_id, scan_id),
        IMAGE_RESOURCE,
        args.project_dir,
        scratch / "scans" / scan_id,
    )
    return SessionScan(args.session_id, label, subject, scan_id, dicom_dir)


def check_fits(series: Series, bundle: ClassifierBundle, where: str) -> None:
    """Refuse, in one line, a scan the model cannot read."""
    if series.modality.upper() != MODALITY:
        raise UserError(
            f"{where} is {series.modality or 'of no modality'}, but model {bundle.name} "
            f"classifies {MODALITY} (its input is a Hounsfield-unit window): choose a CT scan "
            "(scan rule options) or a model trained on this modality"
        )
    if min(series.shape) < 2:
        raise UserError(
            f"{where} has shape {series.shape}: model {bundle.name} needs a volume, not one "
            "slice; choose the session's volume scan (scan rule options)"
        )


# ── the report ──────────────────────────────────────────────────────────────────────────────


class Explanation(BaseModel):
    method: str = "Grad-CAM (monai.visualize.GradCAM)"
    explained_class: str
    layer: str
    peak_voxel: list[int]  # scan voxel (column, row, slice), 0-based
    peak_ras_mm: list[float]
    slices: list[int]  # 0-based slice indices shown, peak slice first
    picture: str
    secondary_capture_series_uid: str
    secondary_capture_files: list[str]


class ClassificationReport(BaseModel):
    session_id: str
    session_label: str
    scan_id: str
    series_instance_uid: str
    assessor_label: str
    model_name: str
    model_version: str
    network: str
    members: int
    classes: list[str]
    probabilities: dict[str, float]
    predicted_class: str
    member_probabilities: list[list[float]]
    explanation: Explanation
    provenance: Provenance


# ── the step ────────────────────────────────────────────────────────────────────────────────


def run(args: argparse.Namespace, client: XnatClient | None = None) -> ClassificationReport:
    """The infer mode; `client` (tests) stands for the XNAT of the environment."""
    from containers.common.step import xnat_from_environment

    check_model_name(args.model_name)
    require_empty_output(args.output)
    bundle = read_classifier_bundle(model_folder(args.model, args.model_name))
    if client is not None:
        return _run(args, bundle, client)
    with xnat_from_environment() as environment_client:
        return _run(args, bundle, environment_client)


def _run(
    args: argparse.Namespace, bundle: ClassifierBundle, client: XnatClient | None
) -> ClassificationReport:
    import numpy as np

    from containers.common.dicom_series import read_series
    from containers.common.provenance import sha256_of_files

    record = StepRecord("classify-infer")
    with tempfile.TemporaryDirectory(prefix="xnat-monai-classify-infer-") as scratch:
        scan = find_scan(args, client, Path(scratch))
        where = f"session {scan.session_label} scan {scan.scan_id or scan.dicom_dir}"
        series = read_series(scan.dicom_dir)
        check_fits(series, bundle, where)
        record.inputs[f"scan {scan.scan_id or scan.dicom_dir} ({series.shape[2]} DICOM files)"] = (
            sha256_of_files(series.paths)
        )

        import torch

        from containers.classify import explain
        from containers.common.qc_picture import grey_levels
        from containers.infer.predict import choose_device
        from xnat_plugin.models.layout import weights_checksum

        device = choose_device(args.device)
        record.device = str(device)
        networks = load_members(bundle, device)
        layer = explain.target_layer(networks[0], bundle.network, args.explain_layer)
        image, model_affine = model_input(series, bundle.preprocessing)
        with torch.no_grad():
            batch = image[None].to(device)
            member_probabilities = [
                torch.softmax(network(batch).float(), dim=1)[0].cpu().numpy()
                for network in networks
            ]
        mean = np.mean(member_probabilities, axis=0, dtype=np.float64)
        mean = mean / mean.sum()
        probabilities = {c: float(p) for c, p in zip(bundle.classes, mean, strict=True)}
        predicted = int(np.argmax(mean))
        log.info(
            "%s: %s (%s)",
            where,
            bundle.classes[predicted],
            ", ".join(f"{c} {p:.3f}" for c, p in probabilities.items()),
        )
        cam = explain.grad_cam(networks, image.to(device), predicted, layer)
        cam_on_scan = explain.to_scan_grid(cam, model_affine, series.affine, series.shape)
        peak = explain.find_peak(cam_on_scan, series.affine)
        grey = grey_levels(series.volume)

        stamp = record.clock.started_at.strftime("%Y%m%d%H%M%S")
        label = args.assessor_label or f"{scan.session_label}_monai_{bundle.name}_{stamp}"
        record.model = {
            "name": bundle.name,
            "version": bundle.version,
            "network": bundle.network,
            "members": [str(p.relative_to(bundle.root)) for p in bundle.member_files],
            "sha256": weights_checksum(bundle.root),
        }
        caption = f"{bundle.classes[predicted]}: " + ", ".join(
            f"{c} {p:.3f}" for c, p in probabilities.items()
        )
        with staged_output(args.output) as staging:
            picture = explain.write_explanation_png(
                staging / "REPORT" / "explanation.png",
                grey,
                cam_on_scan,
                peak,
                series.spacing,
                title=f"{label}: Grad-CAM for '{bundle.classes[predicted]}' ({layer})",
                caption=caption,
            )
            sc_series_uid = _new_uid()
            sc_files = explain.write_explanation_dicom(
                staging / EXPLANATION_FOLDER,
                series,
                grey,
                cam_on_scan,
                peak,
                description=f"Grad-CAM {bundle.name} {bundle.classes[predicted]}",
                series_uid=sc_series_uid,
            )
            report = ClassificationReport(
                session_id=scan.session_id,
                session_label=scan.session_label,
                scan_id=scan.scan_id,
                series_instance_uid=series.series_instance_uid,
                assessor_label=label,
                model_name=bundle.name,
                model_version=bundle.version,
                network=bundle.network,
                members=len(networks),
                classes=bundle.classes,
                probabilities=probabilities,
                predicted_class=bundle.classes[predicted],
                member_probabilities=[[float(v) for v in m] for m in member_probabilities],
                explanation=Explanation(
                    explained_class=bundle.classes[predicted],
                    layer=layer,
                    peak_voxel=list(peak.voxel),
                    peak_ras_mm=[round(v, 2) for v in peak.ras_mm],
                    slices=peak.slices,
                    picture=str(picture.relative_to(staging)),
                    secondary_capture_series_uid=sc_series_uid,
                    secondary_capture_files=[str(p.relative_to(staging)) for p in sc_files],
                ),
                provenance=record.provenance(),
            )
            (staging / "REPORT" / "classification.json").write_text(
                report.model_dump_json(indent=2) + "\n"
            )
            assessor = classification_assessor(report, args.project, record.clock.started_at)
            (staging / "assessor.xml").write_text(assessor.to_xml())
    return report


def model_input(series: Series, prep: Preprocessing) -> tuple[torch.Tensor, np.ndarray]:
    """The network input (1, X, Y, Z), exactly as training built it (`Preprocessing.apply`), and
    the voxel → RAS affine of that input grid (after the body crop and the pad or crop)."""
    return prep.apply_with_affine(series.volume, series.affine)


def classification_assessor(
    report: ClassificationReport, project: str, started: dt.datetime
) -> Any:
    """The `xnat:qcAssessmentData` XNAT can search: `prob_<class>` statistics on the scan, the
    predicted class as an assessor field, the model as fields; its ID by the assessor ID rule."""
    from xnat_plugin.assessors.qc_assessment import QcAssessment, ScanStatistics

    return QcAssessment(
        label=report.assessor_label,
        project=project,
        session_id=report.session_id,
        date=started.date(),
        time=started.time(),
        qc_type=QC_TYPE,
        note=f"MONAI {report.model_name} {report.model_version} (AUTOMATIC)",
        fields={
            PREDICTED_FIELD: report.predicted_class,
            MODEL_FIELD: report.model_name,
            "model_version": report.model_version,
            "explanation_series_uid": report.explanation.secondary_capture_series_uid,
        },
        scans=[
            ScanStatistics(
                scan_id=report.scan_id,
                statistics={
                    f"{PROBABILITY_PREFIX}{name}": value
                    for name, value in report.probabilities.items()
                },
                text_fields={PREDICTED_FIELD: report.predicted_class},
            )
        ],
    )


def _new_uid() -> str:
    import highdicom as hd

    return str(hd.UID())
