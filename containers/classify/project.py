"""`python -m containers.classify evaluate-project`: how well a classifier does on a project.

Reads, per session, the newest classification assessor of each model (`classify infer`: an
`xnat:qcAssessmentData` of type `monai-classification` whose scan statistics are the class
probabilities `prob_<class>`; re-runs replace earlier ones by the label's time stamp) and the
session's true class from the same source training reads (`--label-field` or `--label-csv`,
`containers.common.class_labels`). Sessions without a class or without a prediction are listed
and left out.

The figures are those of a binary decision, the `--positive` class against the others
(`containers.common.metrics.classification`): ROC AUC with DeLong's and a stratified bootstrap
95 % interval, sensitivity and specificity at `--threshold` and at Youden's point, the confusion
matrix of the predicted classes, calibration (reliability bins, ECE, Brier score); per site
(the session's acquisition site) the AUC where the site has both classes and DeLong's unpaired
test between the first two such sites; with two models, DeLong's paired test on the sessions
both predicted.

Writes `<output>/<run>/`: `summary.json`, `sessions.csv`, `roc.png`, `reliability.png` and the
report (`report.html`, `report.pdf`) drawn as the segmentation report is.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from containers.classify.infer import MODEL_FIELD, PREDICTED_FIELD, PROBABILITY_PREFIX, QC_TYPE
from containers.common.class_labels import LabelSource, read_class_labels
from containers.common.metrics.classification import (
    UndefinedMetric,
    auc_bootstrap_interval,
    auc_delong_interval,
    calibration,
    confusion_matrix,
    delong_paired_test,
    delong_unpaired_test,
    operating_point,
    roc_curve,
    youden_point,
)
from containers.evaluate.assessor_choice import newest_first_key
from containers.evaluate.report_document import (
    Block,
    Cell,
    Document,
    Heading,
    PageBreak,
    Paragraph,
    Picture,
    Pictures,
    Table,
    interval_text,
    number,
)
from xnat_plugin.assessors.qc_assessment import QC_ASSESSMENT_XSI_TYPE, QcAssessment
from xnat_plugin.client import XnatClient
from xnat_plugin.client.assessor_store import read_assessor_xml
from xnat_plugin.client.browse import list_assessors, list_sessions
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

UNKNOWN_SITE = "unknown site"
# Class names that read as "nothing found": the other class is the positive one by default.
NEGATIVE_NAMES = frozenset({"absent", "negative", "no", "none", "normal", "no_lesion", "benign"})
ROC_FILE, RELIABILITY_FILE = "roc.png", "reliability.png"
FIGURE_SIZE, FIGURE_DPI = (5.6, 3.6), 120


@dataclass(frozen=True)
class Prediction:
    """One session's classification by one model, with the session's true class."""

    session: str
    site: str
    truth: str
    probabilities: dict[str, float]
    predicted: str
    assessor: str


def newest_predictions(
    client: XnatClient, project: str, models: Sequence[str] = ()
) -> dict[str, dict[str, tuple[str, QcAssessment]]]:
    """By model, by session ID: the newest classification assessor (label, document)."""
    newest: dict[str, dict[str, tuple[str, QcAssessment]]] = {}
    for session in list_sessions(client, project):
        for info in list_assessors(client, session.id):
            if info.xsi_type != QC_ASSESSMENT_XSI_TYPE:
                continue
            try:
                document = QcAssessment.from_xml(read_assessor_xml(client, session.id, info.id))
            except UserError as exc:
                log.warning("skipping %s of session %s: %s", info.label, session.label, exc)
                continue
            if document.qc_type != QC_TYPE:
                continue
            model = document.fields.get(MODEL_FIELD, "unknown")
            if models and model not in models:
                continue
            held = newest.setdefault(model, {}).get(session.id)
            if held is None or newest_first_key(info.label) > newest_first_key(held[0]):
                newest[model][session.id] = (info.label, document)
    return newest


def gather_predictions(
    client: XnatClient, project: str, source: LabelSource, models: Sequence[str] = ()
) -> tuple[dict[str, list[Prediction]], list[str]]:
    """Predictions with true classes by model (name order), and the sessions left out (why)."""
    labels = read_class_labels(client, project, source)
    truth = {entry.session.id: entry for entry in labels.labelled}
    left_out = [f"{u.session_label}: {u.reason}" for u in labels.unlabelled]
    found = newest_predictions(client, project, models)
    missing = [m for m in models if m not in found]
    if missing:
        raise UserError(
            f"project {project} has no classification of model {', '.join(missing)}: "
            "run classify infer on its sessions first"
        )
    if not found:
        raise UserError(
            f"project {project} has no classification assessors (type {QC_TYPE}): run "
            "classify infer on its sessions first"
        )
    by_model: dict[str, list[Prediction]] = {}
    for model, sessions in sorted(found.items()):
        rows = []
        for session_id, (label, document) in sorted(sessions.items()):
            entry = truth.get(session_id)
            if entry is None:
                continue  # listed among the unlabelled already
            statistics = document.scans[0].statistics if document.scans else {}
            probabilities = {
                name[len(PROBABILITY_PREFIX) :]: value
                for name, value in statistics.items()
                if name.startswith(PROBABILITY_PREFIX)
            }
            if not probabilities:
                left_out.append(f"{entry.session.label}: {label} holds no probabilities")
                continue
            rows.append(
                Prediction(
                    session=entry.session.label,
                    site=entry.session.site or UNKNOWN_SITE,
                    truth=entry.label,
                    probabilities=probabilities,
                    predicted=document.fields.get(PREDICTED_FIELD)
                    or max(probabilities, key=lambda k: probabilities[k]),
                    assessor=label,
                )
            )
        by_model[model] = rows
    return by_model, left_out


def positive_class(classes: Sequence[str], chosen: str | None) -> str:
    """`--positive`, else the one class of two that is not a "nothing found" name."""
    if chosen:
        if chosen not in classes:
            raise UserError(f"--positive {chosen!r} is not one of the classes {', '.join(classes)}")
        return chosen
    others = [c for c in classes if c.lower() not in NEGATIVE_NAMES]
    if len(classes) == 2 and len(others) == 1:
        return others[0]
    raise UserError(
        f"the classes are {', '.join(classes)}: say which is the positive one with --positive"
    )


def _interval(interval: Any) -> dict[str, Any]:
    return {"value": interval.estimate, "low": interval.low, "high": interval.high,
            "method": interval.method}  # fmt: skip


def _or_reason(compute: Any) -> Any:
    """A figure, or {"undefined": why} where it cannot be computed (one class only …)."""
    try:
        return compute()
    except UndefinedMetric as exc:
        return {"undefined": str(exc)}


def model_figures(
    rows: Sequence[Prediction],
    classes: Sequence[str],
    positive: str,
    *,
    threshold: float,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Every figure of one model over its sessions, overall and per site."""
    y = [int(r.truth == positive) for r in rows]
    s = [r.probabilities.get(positive, float("nan")) for r in rows]
    figures: dict[str, Any] = {
        "sessions": len(rows),
        "positives": sum(y),
        "auc_delong": _or_reason(lambda: _interval(auc_delong_interval(y, s))),
        "auc_bootstrap": _or_reason(
            lambda: _interval(auc_bootstrap_interval(y, s, replicates=resamples, seed=seed))
        ),
        "at_threshold": _or_reason(lambda: asdict(operating_point(y, s, threshold))),
        "at_youden": _or_reason(lambda: asdict(youden_point(y, s))),
        "roc": _or_reason(lambda: asdict(roc_curve(y, s))),
        "calibration": _or_reason(lambda: asdict(calibration(y, s))),
        "confusion_matrix": {
            "classes": list(classes),
            "rows_true_columns_predicted": confusion_matrix(
                [r.truth for r in rows], [r.predicted for r in rows], classes
            ),
        },
    }
    sites: dict[str, Any] = {}
    for site in sorted({r.site for r in rows}):
        inside = [(yy, ss) for r, yy, ss in zip(rows, y, s, strict=True) if r.site == site]
        ys, ss_ = [a for a, _ in inside], [b for _, b in inside]
        sites[site] = {
            "sessions": len(inside),
            "positives": sum(ys),
            "auc_delong": _or_reason(
                lambda ys=ys, ss_=ss_: _interval(auc_delong_interval(ys, ss_))
            ),
        }
    figures["sites"] = sites
    both = [site for site, f in sites.items() if "value" in f["auc_delong"]]
    if len(both) >= 2:
        a, b = both[:2]
        pick = [
            [(yy, ss) for r, yy, ss in zip(rows, y, s, strict=True) if r.site == x] for x in (a, b)
        ]
        test = delong_unpaired_test(
            [p[0] for p in pick[0]], [p[1] for p in pick[0]],
            [p[0] for p in pick[1]], [p[1] for p in pick[1]],
        )  # fmt: skip
        figures["site_test"] = {"sites": [a, b], **asdict(test), "test": "DeLong, unpaired"}
    return figures


def paired_comparison(
    by_model: Mapping[str, Sequence[Prediction]], positive: str
) -> dict[str, Any] | None:
    """Two models on the sessions both predicted: DeLong's paired test."""
    if len(by_model) != 2:
        return None
    (name_a, rows_a), (name_b, rows_b) = by_model.items()
    b_by_session = {r.session: r for r in rows_b}
    shared = [(r, b_by_session[r.session]) for r in rows_a if r.session in b_by_session]
    y = [int(a.truth == positive) for a, _ in shared]
    return _or_reason(
        lambda: {
            "models": [name_a, name_b],
            "sessions": len(shared),
            **asdict(
                delong_paired_test(
                    y,
                    [a.probabilities.get(positive, float("nan")) for a, _ in shared],
                    [b.probabilities.get(positive, float("nan")) for _, b in shared],
                )
            ),
            "test": "DeLong, paired",
        }
    )


def build_summary(
    project: str,
    run: str,
    by_model: Mapping[str, Sequence[Prediction]],
    left_out: Sequence[str],
    *,
    positive: str | None,
    threshold: float,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    classes = sorted({r.truth for rows in by_model.values() for r in rows}
                     | {c for rows in by_model.values() for r in rows for c in r.probabilities})  # fmt: skip
    chosen = positive_class(classes, positive)
    return {
        "project": project,
        "run": run,
        "classes": classes,
        "positive": chosen,
        "threshold": threshold,
        "left_out": list(left_out),
        "models": {
            model: model_figures(
                rows, classes, chosen, threshold=threshold, resamples=resamples, seed=seed
            )
            for model, rows in by_model.items()
        },
        "paired": paired_comparison(by_model, chosen),
    }


# ── pictures ──────────────────────────────────────────────────────────────────────────────


def _figure() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=FIGURE_SIZE, layout="constrained")


def roc_picture(summary: Mapping[str, Any]) -> Any:
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.8, linestyle="--")
    for model, f in summary["models"].items():
        if "false_positive_rate" not in f["roc"]:
            continue
        auc = f["auc_delong"].get("value")
        axes.step(f["roc"]["false_positive_rate"], f["roc"]["true_positive_rate"], where="post",
                  label=f"{model} (AUC {number(auc)}, {f['sessions']} sessions)")  # fmt: skip
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.02),
             title=f"ROC: {summary['positive']} against the rest")  # fmt: skip
    axes.legend(loc="lower right", fontsize=7)
    return figure


def reliability_picture(summary: Mapping[str, Any]) -> Any:
    figure = _figure()
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#bbbbbb", linewidth=0.8, linestyle="--")
    for model, f in summary["models"].items():
        bins = f["calibration"].get("bins")
        if not bins:
            continue
        axes.plot([b["mean_score"] for b in bins], [b["observed_fraction"] for b in bins],
                  marker="o", label=f"{model} (ECE {number(f['calibration']['expected_calibration_error'])})")  # fmt: skip
    axes.set(xlabel=f"predicted probability of {summary['positive']}",
             ylabel="observed fraction", xlim=(0, 1), ylim=(0, 1.02),
             title="Reliability (10 equal-width bins)")  # fmt: skip
    axes.legend(loc="upper left", fontsize=7)
    return figure


# ── the report ────────────────────────────────────────────────────────────────────────────


def _interval_text(value: Mapping[str, Any]) -> str:
    return interval_text(value.get("value"), value.get("low"), value.get("high"))


def _point_text(point: Mapping[str, Any]) -> tuple[str, str, str]:
    if "sensitivity" not in point:
        return "–", "–", "–"
    return number(point["threshold"]), number(point["sensitivity"]), number(point["specificity"])


def classification_document(summary: Mapping[str, Any]) -> Document:
    positive = summary["positive"]
    blocks: list[Block] = [
        Heading(f"Project {summary['project']}: classification evaluation", 1),
        Paragraph(
            f"Run {summary['run']}: {positive} against the rest, "
            f"model{'s' if len(summary['models']) > 1 else ''} {', '.join(summary['models'])}; "
            f"a session is called {positive} when its probability is at least "
            f"{number(summary['threshold'], 2)}."
        ),
    ]
    rows: list[list[Cell]] = []
    for model, f in summary["models"].items():
        at, youden = _point_text(f["at_threshold"]), _point_text(f["at_youden"])
        calibration_ = f["calibration"]
        rows.append([
            model, str(f["sessions"]), str(f["positives"]), _interval_text(f["auc_delong"]),
            _interval_text(f["auc_bootstrap"]), f"{at[1]} / {at[2]}",
            f"{youden[1]} / {youden[2]} at {youden[0]}",
            number(calibration_.get("expected_calibration_error")),
            number(calibration_.get("brier_score")),
        ])  # fmt: skip
    blocks.append(
        Table(
            "ROC AUC with DeLong's and the bootstrap's 95 % intervals; sensitivity / specificity",
            [
                "model",
                "sessions",
                positive,
                "AUC (DeLong)",
                "AUC (bootstrap)",
                "sens / spec",
                "at Youden's point",
                "ECE",
                "Brier",
            ],
            rows,
            [1.1, 0.9, 0.7, 1.5, 1.5, 1.1, 1.5, 0.6, 0.6],
        )  # fmt: skip
    )
    paired = summary.get("paired")
    if paired and "p_value" in paired:
        blocks.append(
            Paragraph(
                f"{paired['test']} test of equal AUCs, {paired['models'][0]} against "
                f"{paired['models'][1]} on the {paired['sessions']} sessions both classified: "
                f"difference {number(paired['difference'])}, p = {number(paired['p_value'])}."
            )
        )
    for model, f in summary["models"].items():
        matrix = f["confusion_matrix"]
        classes = matrix["classes"]
        blocks += [
            Heading(model, 2),
            Table(
                f"{model}: confusion matrix (rows: the true class, columns: the predicted one)",
                ["true \\ predicted", *classes],
                [
                    [c, *map(str, row)]
                    for c, row in zip(classes, matrix["rows_true_columns_predicted"], strict=True)
                ],  # fmt: skip
            ),
            Table(
                f"{model}: per site",
                ["site", "sessions", positive, "AUC (DeLong)"],
                [
                    [site, str(s["sessions"]), str(s["positives"]), _interval_text(s["auc_delong"])]
                    for site, s in f["sites"].items()
                ],  # fmt: skip
                [1.5, 0.8, 0.8, 2.0],
            ),
        ]
        test = f.get("site_test")
        if test:
            blocks.append(
                Paragraph(
                    f"{test['test']} test between {test['sites'][0]} and {test['sites'][1]}: "
                    f"AUC difference {number(test['difference'])}, p = {number(test['p_value'])}."
                )
            )
    if summary["left_out"]:
        blocks.append(
            Paragraph(
                f"Left out ({len(summary['left_out'])}): " + "; ".join(summary["left_out"][:20]),
                note=True,
            )
        )
    blocks += [
        PageBreak(),
        Pictures(
            [
                Picture(ROC_FILE, "ROC curve per model."),
                Picture(RELIABILITY_FILE, "Reliability: observed fraction per probability bin."),
            ]
        ),
    ]
    return Document(f"{summary['project']}: classification evaluation {summary['run']}", blocks)


def write_outputs(
    folder: Path, summary: Mapping[str, Any], by_model: Mapping[str, Sequence[Prediction]]
) -> None:
    """summary.json, sessions.csv, the two pictures and the report, into `folder`."""
    from containers.evaluate.report_html import render_report_html
    from containers.evaluate.report_pdf import write_report_pdf

    (folder / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    classes = summary["classes"]
    with (folder / "sessions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "session", "site", "true_class", "predicted_class",
                         *(f"{PROBABILITY_PREFIX}{c}" for c in classes), "assessor"])  # fmt: skip
        for model, rows in by_model.items():
            for r in rows:
                writer.writerow([model, r.session, r.site, r.truth, r.predicted,
                                 *(r.probabilities.get(c, "") for c in classes), r.assessor])  # fmt: skip
    roc_picture(summary).savefig(folder / ROC_FILE, dpi=FIGURE_DPI)
    reliability_picture(summary).savefig(folder / RELIABILITY_FILE, dpi=FIGURE_DPI)
    document = classification_document(summary)
    (folder / "report.html").write_text(render_report_html(document), encoding="utf-8")
    write_report_pdf(folder / "report.pdf", document, folder)


def run_evaluate_project(
    project: str,
    output: Path,
    source: LabelSource,
    *,
    models: Sequence[str] = (),
    positive: str | None = None,
    threshold: float = 0.5,
    run: str | None = None,
    resamples: int = 1000,
    seed: int = 0,
    client: XnatClient | None = None,
) -> Path:
    """The step: `<output>/<run>/` all together or nothing, with its provenance."""
    from containers.common.step import (
        StepRecord,
        report_run_name,
        required_xnat,
        staged_output,
    )

    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"--threshold {threshold} must be a probability, from 0 to 1")
    if resamples < 1:
        raise UserError(f"--resamples {resamples} must be 1 or more")
    name = report_run_name(run, "classify_eval")
    record = StepRecord("classify-evaluate-project")
    with required_xnat(client, needed_by="evaluate-project") as xnat:
        by_model, left_out = gather_predictions(xnat, project, source, models)
        summary = build_summary(
            project, name, by_model, left_out,
            positive=positive, threshold=threshold, resamples=resamples, seed=seed,
        )  # fmt: skip
        record.inputs[f"/projects/{project}"] = ""
        summary["provenance"] = record.as_dict()
        with staged_output(output) as staging:
            folder = staging / name
            folder.mkdir()
            write_outputs(folder, summary, by_model)
    for model, f in summary["models"].items():
        log.info("%s: AUC %s over %d sessions", model, _interval_text(f["auc_delong"]),
                 f["sessions"])  # fmt: skip
    return output / name
