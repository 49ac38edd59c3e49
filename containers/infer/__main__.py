"""`python -m containers.infer`: segment one DICOM series with a MONAI bundle.

Reads the series, brings it to the model's orientation and spacing, normalises, runs the
sliding-window ensemble, maps the labels back onto the scan's grid, and writes into --output:
`SEG/` (DICOM SEG), `NIFTI/` (the label map), `REPORT/` (report.json + QC picture) and, when
the XNAT arguments are given, `assessor.xml` (an icr:roiCollectionData pointing at the SEG).
All outputs appear together or not at all.

Start-up: this module imports neither torch nor MONAI. `run` starts them in the background
(torch, then the model's weights and MONAI network, then the writers' libraries) and reads the
series meanwhile; the report records how long the step then waited for them. Run as a
program, it ends without tearing the interpreter down (`exit_at_once`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from containers.common.background import BackgroundStages
from containers.common.bundle import Bundle, load_bundle, read_bundle_spec
from containers.common.bundle_spec import BundleSpec
from containers.common.dicom_series import Series, read_series
from containers.common.provenance import RunClock, collect_provenance, sha256_of_files
from containers.infer.report import InferenceReport, LabelVolume, Timings
from containers.infer.staging import require_empty_output, staged_output
from xnat_plugin.assessors.roi_collection import ICR_NAMESPACE, RoiCollection
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

if TYPE_CHECKING:
    import torch

    from containers.common.seg_writer import WrittenSeg

log = logging.getLogger("containers.infer")

XNAT_ARGUMENTS = ("session_id", "project", "subject", "session_label")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m containers.infer", description="Segment one DICOM series with a bundle."
    )
    parser.add_argument("--input", required=True, type=Path, help="folder with one DICOM series")
    parser.add_argument("--model", required=True, type=Path, help="one MONAI bundle folder")
    parser.add_argument("--output", required=True, type=Path, help="empty output folder")
    parser.add_argument("--session-id", help="the image session's XNAT ID")
    parser.add_argument("--project", help="XNAT project ID")
    parser.add_argument("--subject", help="the subject's XNAT ID")
    parser.add_argument("--session-label", help="the image session's label")
    parser.add_argument("--scan-id", help="XNAT scan ID (recorded in the report)")
    parser.add_argument("--assessor-label", help="default: <session>_monai_<model>_<time>")
    parser.add_argument("--tta", action="store_true", help="average over axis flips (4× time)")
    parser.add_argument(
        "--no-largest-component",
        action="store_true",
        help="keep every island of each label (default: only the largest, or as many as the "
        "label has pieces in the training references, e.g. 2 for paired kidneys)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--sw-batch-size", type=int, default=None, help="windows per pass")
    parser.add_argument(
        "--resample",
        choices=("linear", "nearest"),
        default="linear",
        help="back to the scan grid: trilinear on class scores (as nnU-Net), or nearest on labels",
    )
    parser.add_argument(
        "--roi-namespace", default=ICR_NAMESPACE, help="namespace URI of the icr datatype"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        run(args)
    except UserError as exc:
        print(f"infer: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def run(args: argparse.Namespace) -> InferenceReport:
    clock = RunClock()
    xnat = _xnat_arguments(args)
    folder = _bundle_folder(args.model)
    spec = read_bundle_spec(folder)
    require_empty_output(args.output)
    with BackgroundStages(
        [
            ("torch", _import_numerics),
            ("models", lambda: _load_models(folder, args.device)),
            ("writers", _import_writers),
        ]
    ) as background:
        return _run(args, clock, xnat, spec, background)


def _import_numerics() -> None:
    """torch and the step's own modules built on it (the main thread imports them after)."""
    import containers.common.qc_picture
    import containers.common.resample
    import containers.infer.predict  # noqa: F401


def _load_models(folder: Path, device_name: str) -> tuple[Bundle, list[torch.nn.Module], Any]:
    """The bundle's weights in their networks (MONAI's import comes with the first network)."""
    from containers.infer.predict import choose_device

    bundle = load_bundle(folder)
    bundle.check_fits(in_channels=1)
    device = choose_device(device_name)
    return bundle, bundle.build_models(device, release=True), device


def _import_writers() -> None:
    """What the clean-up and the writers use (highdicom, nibabel, Pillow, cc3d)."""
    import containers.common.nifti_io
    import containers.common.seg_writer
    import containers.infer.cleanup  # noqa: F401


def _run(
    args: argparse.Namespace,
    clock: RunClock,
    xnat: dict[str, str] | None,
    spec: BundleSpec,
    background: BackgroundStages,
) -> InferenceReport:
    start = time.perf_counter()
    series = read_series(args.input)
    read_seconds = time.perf_counter() - start
    log.info("read series %s %s in %.2f s", series.series_instance_uid, series.shape, read_seconds)

    background.result("torch")
    from containers.common.qc_picture import grey_levels
    from containers.common.resample import labels_to_original_grid, plan_grid, to_model_grid
    from containers.infer.predict import choose_sw_batch_size, predict

    start = time.perf_counter()
    mapping = plan_grid(series.shape, series.affine, spec.spacing, spec.orientation)
    image = to_model_grid(series.volume, mapping)
    spec.normalization.apply(image.numpy(), in_place=True)  # the tensor is ours alone
    # Held in half precision while the network runs (windows go to it as float32): a step of
    # 1/2048 of the normalised range, far below the scan's own noise, for half the memory.
    image = image.half()
    # From here on only the QC picture needs the scan's voxels: keep just the 8-bit grey
    # levels it shows, a quarter of the float32 volume, while the network runs.
    series.volume = grey_levels(series.volume)
    preprocess_seconds = time.perf_counter() - start
    log.info("model grid %s at %s mm", mapping.model_shape, spec.spacing)

    bundle, models, device = background.result("models")
    log.info("model %s %s (%d member(s))", spec.model_name, spec.version, len(models))
    sw_batch_size = choose_sw_batch_size(device, spec.patch_size, args.sw_batch_size)
    start = time.perf_counter()
    prediction = predict(
        image,
        models,
        patch_size=spec.patch_size,
        device=device,
        sw_batch_size=sw_batch_size,
        tta=args.tta,
    )
    inference_seconds = time.perf_counter() - start
    del image, models
    background.result("writers")
    from containers.infer.cleanup import keep_largest_component

    # Helpers for the rest of the step: the checksums and the output files.
    with ThreadPoolExecutor(max_workers=3) as pool:
        start = time.perf_counter()
        label_map = labels_to_original_grid(prediction.margins, mapping, mode=args.resample)
        del prediction.margins
        resample_seconds = time.perf_counter() - start
        # The clean-up runs on one core: the checksums (hashing releases the GIL) use the other.
        provenance_job = pool.submit(_provenance_checksums, args, series, bundle)
        if not args.no_largest_component:
            pieces = {
                spec.labels[name]: n for name, n in spec.components.items() if name in spec.labels
            }
            keep_largest_component(label_map, sorted(spec.labels.values()), pieces)
        postprocess_seconds = time.perf_counter() - start

        start = time.perf_counter()
        stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        assessor_label = None
        if xnat is not None:
            assessor_label = args.assessor_label or (
                f"{xnat['session_label']}_monai_{spec.model_name}_{stamp}"
            )
        name = assessor_label or f"monai_{spec.model_name}_{stamp}"
        with staged_output(args.output) as staging:
            written, volumes = _write_files(
                pool, staging, name, label_map, series, spec, waiting_for=[provenance_job]
            )
            input_checksums, model_provenance = provenance_job.result()
            write_seconds = time.perf_counter() - start
            report = InferenceReport(
                model_name=spec.model_name,
                model_version=spec.version,
                series_instance_uid=series.series_instance_uid,
                seg_sop_instance_uid=written.sop_instance_uid,
                assessor_label=assessor_label,
                image_shape=list(series.shape),
                model_grid_shape=list(mapping.model_shape),
                spacing_mm=[round(s, 4) for s in series.spacing],
                labels=volumes,
                tta=args.tta,
                largest_component=not args.no_largest_component,
                timings=Timings(
                    read_seconds=round(read_seconds, 3),
                    preprocess_seconds=round(preprocess_seconds, 3),
                    forward_seconds=round(prediction.forward_seconds, 3),
                    inference_seconds=round(inference_seconds, 3),
                    postprocess_seconds=round(postprocess_seconds, 3),
                    resample_seconds=round(resample_seconds, 3),
                    cleanup_seconds=round(postprocess_seconds - resample_seconds, 3),
                    write_seconds=round(write_seconds, 3),
                    total_seconds=round(clock.elapsed(), 3),
                    startup_wait_seconds=round(background.waited_seconds, 3),
                    forward_passes=prediction.passes,
                    windows=prediction.windows,
                ),
                provenance=collect_provenance(
                    "infer",
                    clock,
                    device=str(device),
                    inputs=input_checksums,
                    model=model_provenance,
                ),
            )
            (staging / "REPORT" / "report.json").write_text(report.model_dump_json(indent=2) + "\n")
            if xnat is not None and assessor_label is not None:
                assessor = RoiCollection(
                    label=assessor_label,
                    project=xnat["project"],
                    session_id=xnat["session_id"],
                    subject_id=xnat["subject"],
                    date=clock.started_at.date(),
                    time=clock.started_at.time(),
                    uid=written.sop_instance_uid,
                    collection_type="SEG",
                    series_uids=[series.series_instance_uid],
                    name=assessor_label,
                    description=f"MONAI {spec.model_name} {spec.version} (AUTOMATIC)",
                )
                (staging / "assessor.xml").write_text(assessor.to_xml(args.roi_namespace))
    log.info(
        "done in %.1f s (forward passes %.1f s): %s",
        clock.elapsed(),
        prediction.forward_seconds,
        ", ".join(f"{k} {v.volume_ml:.1f} mL" for k, v in report.labels.items()),
    )
    return report


def _write_files(
    pool: ThreadPoolExecutor,
    staging: Path,
    name: str,
    label_map: np.ndarray,
    series: Series,
    spec: BundleSpec,
    *,
    waiting_for: list[Future[Any]],
) -> tuple[WrittenSeg, dict[str, LabelVolume]]:
    """SEG, NIfTI and QC picture into `staging`, side by side (gzip, PNG encoding and the
    SEG's bit packing release the GIL), with the label volumes counted meanwhile."""
    from containers.common.nifti_io import write_nifti
    from containers.common.qc_picture import write_qc_montage
    from containers.common.seg_writer import SegAlgorithm, write_seg
    from containers.infer.report import label_volumes

    jobs: list[Future[Any]] = [
        pool.submit(
            write_seg,
            staging / "SEG" / f"{name}.dcm",
            label_map,
            series,
            spec.labels,
            algorithm=SegAlgorithm(kind="AUTOMATIC", name=spec.model_name, version=spec.version),
            segment_codes=spec.segment_codes,
            series_description=f"MONAI {spec.model_name} {spec.version}"[:64],
        ),
        pool.submit(
            write_nifti,
            staging / "NIFTI" / f"{name}.nii.gz",
            label_map,
            series.affine,
            dtype=np.uint8,
        ),
        pool.submit(
            write_qc_montage,
            staging / "REPORT" / "qc.png",
            series.volume,
            label_map,
            series.spacing,
            spec.labels,
            title=name,
        ),
    ]
    try:
        volumes = label_volumes(label_map, spec.labels, series.spacing)
    finally:
        # Every job has finished before an error surfaces, so none writes into the staging
        # folder after it is removed.
        wait([*jobs, *waiting_for])
    results = [job.result() for job in jobs]
    return results[0], volumes


def _xnat_arguments(args: argparse.Namespace) -> dict[str, str] | None:
    given = {name: getattr(args, name) for name in XNAT_ARGUMENTS if getattr(args, name)}
    if not given:
        return None
    missing = [f"--{name.replace('_', '-')}" for name in XNAT_ARGUMENTS if name not in given]
    if missing:
        raise UserError(
            f"XNAT arguments are incomplete: {', '.join(missing)} missing; give all of "
            "--session-id, --project, --subject and --session-label, or none"
        )
    return given


def _bundle_folder(model: Path) -> Path:
    """The bundle itself, or the one bundle inside a mounted MONAI_MODELS folder."""
    if (model / "configs").is_dir() or not model.is_dir():
        return model
    inner = [p.parent.parent for p in sorted(model.glob("*/configs/metadata.json"))]
    if len(inner) == 1:
        return inner[0]
    if len(inner) > 1:
        names = ", ".join(p.name for p in inner)
        raise UserError(f"{model} holds several models ({names}); give one model's folder")
    return model


def _provenance_checksums(
    args: argparse.Namespace, series: Series, bundle: Bundle
) -> tuple[dict[str, str], dict[str, object]]:
    """The input series' and the model's checksums, for the report's provenance."""
    key = f"scan {args.scan_id}" if args.scan_id else str(args.input)
    inputs = {f"{key} ({series.shape[2]} DICOM files)": sha256_of_files(series.paths)}
    return inputs, _model_provenance(bundle)


def _model_provenance(bundle: Bundle) -> dict[str, object]:
    return {
        "name": bundle.spec.model_name,
        "version": bundle.spec.version,
        "network": bundle.spec.network.name,
        "members": bundle.member_names,
        "sha256": bundle.checksum,
        "training": bundle.spec.training,
    }


def exit_at_once(code: int) -> None:
    """End the process without tearing the interpreter down: with torch and MONAI loaded that
    takes about a second (freeing modules and tensors one by one), as long as a small session's
    work. By now every output is written, closed and renamed into place, and every thread the
    step started has been joined; only the logs and the standard streams are left to flush."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_at_once(main())
