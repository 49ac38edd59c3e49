"""`python -m containers.infer`: segment a scan with a MONAI bundle.

Reads the series (one per input channel for multi-channel bundles, chosen in the mounted
session), runs the model (`model_loading`: our train step's bundles on the step's own
pipeline, any other MONAI bundle on its own pipeline under the site's trust rule), and writes
into --output: `SEG/` (DICOM SEG on the first channel's series), `NIFTI/` (the label map),
`REPORT/` (report.json + QC picture) and, when the XNAT arguments are given, `assessor.xml` (an
icr:roiCollectionData pointing at the SEG). All outputs appear together or not at all.

Start-up: this module imports neither torch nor MONAI. `run` reads the model's metadata, then
starts them in the background (torch, then the model's weights and network, then the writers'
libraries) and reads the series meanwhile; the report records how long the step then waited.
Run as a program, it imports MONAI for our bundles without the optional packages only MONAI's
other parts use (`containers.common.monai_import`), and ends without tearing the interpreter
down (`exit_at_once`); its first lines, before the imports below, pause the garbage collector
and leave out what pydicom's import looks for but a step never uses
(`containers.common.program`).
"""

# ruff: noqa: E402  (as a program, the lines below run before the step's imports)
from __future__ import annotations

if __name__ == "__main__":
    from containers.common.program import begin_program

    begin_program()

import argparse
import datetime as dt
import logging
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from containers.common.background import BackgroundStages
from containers.common.dicom_series import Series, read_series
from containers.common.model_folder import model_folder
from containers.common.provenance import sha256_of_files
from containers.common.run_as import run_as_output_owner
from containers.common.step import StepRecord, require_empty_output, run_step, staged_output
from containers.infer.channels import (
    ChannelScan,
    choose_channel_scans,
    parse_channel_patterns,
    session_scans,
)
from containers.infer.model_loading import (
    ModelDescription,
    describe_model,
    model_provenance,
    parse_overrides,
)
from containers.infer.report import ChannelChoice, InferenceReport, LabelVolume, Timings
from containers.infer.segmentation import Segmentation
from xnat_plugin.errors import UserError
from xnat_plugin.log import configure_logging

if TYPE_CHECKING:
    import torch

    from containers.common.bundle import Bundle
    from containers.common.bundle_pipeline import BundlePipeline
    from containers.common.seg_writer import WrittenSeg

log = logging.getLogger("containers.infer")

XNAT_ARGUMENTS = ("session_id", "project", "subject", "session_label")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m containers.infer",
        description="Segment a scan (one per input channel) with a MONAI bundle.",
    )
    parser.add_argument("--input", required=True, type=Path, help="folder with one DICOM series")
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        help="one MONAI bundle folder, or a folder of models (a project's MONAI_MODELS)",
    )
    parser.add_argument(
        "--model-name",
        help="the model to use inside the --model folder (XNAT's label rule: letters, digits, "
        "'_', '-'); looked up there only",
    )
    parser.add_argument(
        "--session-dir",
        type=Path,
        help="the whole session (SCANS/<scan>/DICOM): where a model with several input "
        "channels finds one scan per channel",
    )
    parser.add_argument(
        "--channel-scans",
        help="CHANNEL=PATTERN,...: series-description pattern per input channel "
        "(default: the channel's name as a word of the description)",
    )
    parser.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="ID=VALUE",
        help="MONAI config override of a model-zoo bundle, e.g. inferer::roi_size=[96,96,96]",
    )
    parser.add_argument(
        "--overrides",
        default="",
        metavar="'ID=VALUE ...'",
        help="several --override items in one value, separated by spaces",
    )
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
        "--roi-namespace",
        help="namespace URI of the icr datatype (default: the icr plugin's own)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None, *, as_program: bool = False) -> int:
    """The step; `as_program` when it is the whole process (`python -m containers.infer`):
    see `run`'s `whole_process`."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)

    def body() -> None:
        run_as_output_owner(args.output)
        run(args, whole_process=as_program)

    return run_step("infer", body)


@dataclass
class ChannelInput:
    """The series of one input channel and how it was chosen."""

    series: Series
    choice: ChannelScan | None
    on_first_grid: bool = True  # else resampled onto the first channel's grid


@dataclass
class LoadedModel:
    """What the background loaded: our bundle's networks, or the bundle's own pipeline."""

    device: torch.device
    bundle: Bundle | None = None
    models: list[Any] = field(default_factory=list)
    pipeline: BundlePipeline | None = None


def run(args: argparse.Namespace, *, whole_process: bool = False) -> InferenceReport:
    """The step. `whole_process`: the process is this step alone (not a caller that may use
    more of MONAI, or keep running, afterwards). Then our bundle's MONAI is imported without
    the optional packages only MONAI's other parts use (`containers.common.monai_import`,
    about two seconds), and the garbage collector pauses while the background imports run
    (`BackgroundStages`' `pause_gc`, about a fifth of their time)."""
    record = StepRecord("infer")
    xnat = _xnat_arguments(args)
    overrides = parse_overrides([*args.overrides.split(), *args.override])
    folder = (
        model_folder(args.model, args.model_name)
        if args.model_name is not None
        else _bundle_folder(args.model)
    )
    model = describe_model(folder, overrides=overrides)
    log.info("model %s %s: %s", model.name, model.version, ", ".join(model.format.input_channels))
    require_empty_output(args.output)
    with BackgroundStages(
        [
            ("torch", _import_numerics),
            ("models", lambda: _load_model(model, args.device, networks_only=whole_process)),
            ("writers", _import_writers),
        ],
        pause_gc=whole_process,
    ) as background:
        return _run(args, record, xnat, model, background)


def _import_numerics() -> None:
    """torch and the step's own modules built on it (the main thread imports them after)."""
    import containers.infer.native  # noqa: F401  (torch, resampling, prediction, grey levels)


def _load_model(
    model: ModelDescription, device_name: str, *, networks_only: bool = False
) -> LoadedModel:
    """Weights in their networks, or the bundle's own pipeline once the trust rule allows it.
    Our bundles need only MONAI's networks (`networks_only`: imported without the optional
    packages only MONAI's other parts use); a MONAI bundle's inference items (network,
    transforms, inferer) may use any of MONAI's transforms, so then only the packages of
    MONAI's engines, handlers and visualisers are left out (`bundle_pipeline.import_monai`)."""
    from containers.infer.model_loading import load_native, load_pipeline
    from containers.infer.predict import choose_device

    device = choose_device(device_name)
    if model.native:
        if networks_only:
            from containers.common.monai_import import import_networks_only

            import_networks_only()
        bundle, models = load_native(model, device)
        return LoadedModel(device=device, bundle=bundle, models=models)
    if networks_only:
        from containers.common.bundle_pipeline import import_monai

        import_monai()
    pipeline = load_pipeline(model)
    import containers.infer.bundle_run  # noqa: F401  (what runs it: the main thread's next step)

    return LoadedModel(device=device, pipeline=pipeline)


def _import_writers() -> None:
    """What the clean-up and the writers use (highdicom, nibabel, Pillow, cc3d) and the
    assessor's XML model; a bundle's forward pass runs meanwhile."""
    import containers.common.nifti_io
    import containers.common.seg_writer
    import containers.infer.cleanup  # noqa: F401
    import xnat_plugin.assessors.roi_collection  # noqa: F401


def _run(
    args: argparse.Namespace,
    record: StepRecord,
    xnat: dict[str, str] | None,
    model: ModelDescription,
    background: BackgroundStages,
) -> InferenceReport:
    start = time.perf_counter()
    inputs = _read_inputs(args, model)
    read_seconds = time.perf_counter() - start
    series = inputs[0].series
    log.info("read series %s %s in %.2f s", series.series_instance_uid, series.shape, read_seconds)

    # Helpers for the rest of the step: the checksums and the output files.
    with ThreadPoolExecutor(max_workers=3) as pool:
        checksums: list[Future[Any]] = []
        segmentation, loaded = _segment(args, model, inputs, background, pool, checksums)

        start = time.perf_counter()
        stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
        assessor_label = None
        if xnat is not None:
            assessor_label = args.assessor_label or (
                f"{xnat['session_label']}_monai_{model.name}_{stamp}"
            )
        name = assessor_label or f"monai_{model.name}_{stamp}"
        with staged_output(args.output) as staging:
            written, volumes = _write_files(
                pool, staging, name, segmentation, series, model, waiting_for=checksums
            )
            record.inputs, weights_sha256 = checksums[0].result()
            record.device = str(loaded.device)
            record.model = {
                **model_provenance(model, loaded.bundle, loaded.pipeline),
                "sha256": weights_sha256,
            }
            write_seconds = time.perf_counter() - start
            times = segmentation.times
            report = InferenceReport(
                model_name=model.name,
                model_version=model.version,
                series_instance_uid=series.series_instance_uid,
                seg_sop_instance_uid=written.sop_instance_uid,
                assessor_label=assessor_label,
                image_shape=list(series.shape),
                model_grid_shape=segmentation.model_grid_shape,
                spacing_mm=[round(s, 4) for s in series.spacing],
                labels=volumes,
                tta=bool(args.tta and model.native),
                largest_component=model.native and not args.no_largest_component,
                pipeline="xnat-monai" if model.native else "bundle",
                overlapping_segments=segmentation.overlapping,
                channels=[_channel_choice(i) for i in inputs],
                timings=Timings(
                    read_seconds=round(read_seconds, 3),
                    preprocess_seconds=round(times.preprocess_seconds, 3),
                    forward_seconds=round(times.forward_seconds, 3),
                    inference_seconds=round(times.inference_seconds, 3),
                    postprocess_seconds=round(times.resample_seconds + times.cleanup_seconds, 3),
                    resample_seconds=round(times.resample_seconds, 3),
                    cleanup_seconds=round(times.cleanup_seconds, 3),
                    write_seconds=round(write_seconds, 3),
                    total_seconds=round(record.clock.elapsed(), 3),
                    startup_wait_seconds=round(background.waited_seconds, 3),
                    forward_passes=times.forward_passes,
                    windows=times.windows,
                ),
                provenance=record.provenance(),
            )
            (staging / "REPORT" / "report.json").write_text(report.model_dump_json(indent=2) + "\n")
            if xnat is not None and assessor_label is not None:
                from xnat_plugin.assessors.roi_collection import ICR_NAMESPACE, RoiCollection

                assessor = RoiCollection(
                    label=assessor_label,
                    project=xnat["project"],
                    session_id=xnat["session_id"],
                    subject_id=xnat["subject"],
                    date=record.clock.started_at.date(),
                    time=record.clock.started_at.time(),
                    uid=written.sop_instance_uid,
                    collection_type="SEG",
                    series_uids=list(dict.fromkeys(i.series.series_instance_uid for i in inputs)),
                    name=assessor_label,
                    description=f"MONAI {model.name} {model.version} (AUTOMATIC)",
                )
                (staging / "assessor.xml").write_text(
                    assessor.to_xml(args.roi_namespace or ICR_NAMESPACE)
                )
    log.info(
        "done in %.1f s (forward passes %.1f s): %s",
        record.clock.elapsed(),
        segmentation.times.forward_seconds,
        ", ".join(f"{k} {v.volume_ml:.1f} mL" for k, v in report.labels.items()),
    )
    return report


def _segment(
    args: argparse.Namespace,
    model: ModelDescription,
    inputs: list[ChannelInput],
    background: BackgroundStages,
    pool: ThreadPoolExecutor,
    checksums: list[Future[Any]],
) -> tuple[Segmentation, LoadedModel]:
    """Run the model; the checksums start as soon as they can overlap one-core work."""
    series = inputs[0].series

    def after_forward() -> None:
        """Once the forward passes are done: the checksums (hashing releases the GIL: it
        overlaps the one-core clean-up) and highdicom's tables of the standard, which its
        first SEG would otherwise read then (half a second, and about 110 MB of dicts: loaded
        here, not during the forward passes, the step's peak memory stays theirs)."""
        background.result("writers")
        from containers.common.seg_writer import load_standard_tables

        checksums.append(pool.submit(_provenance_checksums, args, inputs, model))
        pool.submit(load_standard_tables)

    background.result("torch")
    if model.native:
        from containers.infer.native import NativeOptions, segment_native, to_model_input

        assert model.spec is not None
        prepared = to_model_input(series, model.spec)
        loaded: LoadedModel = background.result("models")
        log.info("model %s %s (%d member(s))", model.name, model.version, len(loaded.models))
        options = NativeOptions(
            tta=args.tta,
            resample=args.resample,
            largest_component=not args.no_largest_component,
            sw_batch_size=args.sw_batch_size,
        )
        segmentation = segment_native(
            prepared,
            model.spec,
            loaded.models,
            loaded.device,
            options,
            before_cleanup=after_forward,
        )
        loaded.models.clear()
        return segmentation, loaded

    loaded = background.result("models")
    # The writers' imports go on in the background during the forward pass (torch's threads
    # leave the interpreter free) and are waited for after it.
    from containers.common.qc_picture import DEFAULT_WINDOW, grey_levels
    from containers.infer.bundle_run import segment_with_bundle

    if args.tta or args.no_largest_component or args.resample != "linear":
        log.info(
            "TTA, clean-up and resampling options apply to models trained here; bundle %s "
            "runs its own postprocessing",
            model.name,
        )
    window = DEFAULT_WINDOW if series.modality == "CT" else _percentile_window(series.volume)
    assert loaded.pipeline is not None
    segmentation = segment_with_bundle(
        loaded.pipeline,
        model.format,
        [i.series for i in inputs],
        device=loaded.device,
        after_forward=after_forward,
    )
    # Only the QC picture needs the scan's voxels from here on.
    series.volume = grey_levels(series.volume, window)
    for other in inputs[1:]:
        other.series.volume = np.empty((0, 0, 0), dtype=np.float32)
    return segmentation, loaded


def _read_inputs(args: argparse.Namespace, model: ModelDescription) -> list[ChannelInput]:
    """The series of each input channel: --input for a one-channel model (or when the
    session is not mounted), else one scan per channel from --session-dir."""
    channels = model.format.input_channels
    session = args.session_dir
    has_session = session is not None and (session / "SCANS").is_dir()
    if len(channels) == 1 and (not has_session or not args.channel_scans):
        if not _has_files(args.input) and has_session:
            raise UserError(
                f"{args.input} holds no DICOM: give the scan, or --channel-scans to choose it "
                "in the session"
            )
        return [ChannelInput(read_series(args.input), None)]
    if session is None or not has_session:
        raise UserError(
            f"model {model.name} takes {len(channels)} input channels ({', '.join(channels)}), "
            "one scan each: launch the wrapper that mounts the whole session (segment from "
            "several scans), or give --session-dir"
        )
    patterns = parse_channel_patterns(args.channel_scans, channels)
    chosen = choose_channel_scans(session_scans(session), channels, patterns)
    inputs: list[ChannelInput] = []
    for choice in chosen:
        log.info(
            "channel %s: scan %s %r (%s)",
            choice.channel,
            choice.scan.scan_id,
            choice.scan.series_description,
            choice.pattern,
        )
        series = read_series(choice.scan.folder)
        first = inputs[0].series if inputs else series
        same = series.shape == first.shape and np.allclose(series.affine, first.affine, atol=1e-3)
        inputs.append(ChannelInput(series, choice, on_first_grid=same))
    return inputs


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _percentile_window(volume: np.ndarray) -> tuple[float, float]:
    """A display window for scans without Hounsfield units (MR): the 1st-99th percentile."""
    sample = volume[::4, ::4, ::2]
    low, high = (float(v) for v in np.percentile(sample, [1, 99]))
    return (low, high if high > low else low + 1.0)


def _channel_choice(channel_input: ChannelInput) -> ChannelChoice:
    series, choice = channel_input.series, channel_input.choice
    return ChannelChoice(
        channel=choice.channel if choice else "image",
        scan_id=choice.scan.scan_id if choice else None,
        series_description=choice.scan.series_description if choice else "",
        series_instance_uid=series.series_instance_uid,
        chosen_by=choice.pattern if choice else "--input",
        resampled_onto_first=not channel_input.on_first_grid,
    )


def _write_files(
    pool: ThreadPoolExecutor,
    staging: Path,
    name: str,
    segmentation: Segmentation,
    series: Series,
    model: ModelDescription,
    *,
    waiting_for: list[Future[Any]],
) -> tuple[WrittenSeg, dict[str, LabelVolume]]:
    """SEG, NIfTI and QC picture into `staging`, side by side (gzip, PNG encoding and the
    SEG's bit packing release the GIL), with the label volumes counted meanwhile."""
    from containers.common.nifti_io import write_nifti
    from containers.common.qc_picture import write_qc_montage
    from containers.common.seg_writer import SegAlgorithm, write_seg
    from containers.infer.report import label_volumes, mask_volumes

    labels = segmentation.labels
    masks = segmentation.masks
    jobs: list[Future[Any]] = [
        pool.submit(
            write_seg,
            staging / "SEG" / f"{name}.dcm",
            segmentation.label_map,
            series,
            labels,
            algorithm=SegAlgorithm(kind="AUTOMATIC", name=model.name, version=model.version),
            segment_codes=model.segment_codes,
            series_description=f"MONAI {model.name} {model.version}"[:64],
            masks=masks,
        ),
        pool.submit(
            write_nifti,
            staging / "NIFTI" / f"{name}.nii.gz",
            # Overlapping segments: one 0/1 volume per label along a 4th axis, in label order.
            segmentation.label_map if masks is None else np.moveaxis(masks, 0, -1),
            series.affine,
            dtype=np.uint8,
        ),
        pool.submit(
            write_qc_montage,
            staging / "REPORT" / "qc.png",
            series.volume,
            segmentation.label_map,
            series.spacing,
            labels,
            title=name,
        ),
    ]
    try:
        if masks is None:
            volumes = label_volumes(segmentation.label_map, labels, series.spacing)
        else:
            volumes = mask_volumes(masks, labels, series.spacing)
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
    args: argparse.Namespace, inputs: list[ChannelInput], model: ModelDescription
) -> tuple[dict[str, str], str]:
    """The input series' checksums and the weights' (sha256 over every member)."""
    from xnat_plugin.models.layout import weights_checksum

    checksums = {}
    for channel_input in inputs:
        series, choice = channel_input.series, channel_input.choice
        if choice is not None:
            key = f"scan {choice.scan.scan_id}"
        else:
            key = f"scan {args.scan_id}" if args.scan_id else str(args.input)
        checksums[f"{key} ({series.shape[2]} DICOM files)"] = sha256_of_files(series.paths)
    return checksums, weights_checksum(model.root)


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
    exit_at_once(main(as_program=True))
