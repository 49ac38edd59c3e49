"""What the project report needs besides the figures: each model's bundle record (version, model
card, the split it was trained on), the role of every evaluated session, the energy every job
of the study used, and the pictures of the sessions the report shows.

Everything is read over REST from where the steps left it: the bundle's `configs/metadata.json`
in the project resource `MONAI_MODELS/<model>/`, infer's `REPORT/report.json` and `qc.png` on
the segmentation assessor, evaluate's `REPORT/metrics.json` and `disagreement.png` on the
evaluation assessor. A file that is missing leaves a gap that the report names, never a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from containers.common.data_split import SeenData
from containers.common.energy import JOULES_PER_KWH
from containers.evaluate.project_cases import CaseEvaluation
from xnat_plugin.client import XnatClient, paths
from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)

MODELS_RESOURCE = "MONAI_MODELS"
REPORT_RESOURCE = "REPORT"
# Green Algorithms' world average carbon intensity of electricity (g CO2e per kWh), the default
# when a site does not give its own grid's figure (`--grid-intensity`).
WORLD_GRID_INTENSITY = 475.0


@dataclass
class ModelRecord:
    """A model as its bundle describes it; `found` is False when the bundle is not in the
    project's MONAI_MODELS (then its version, card and split are unknown)."""

    name: str
    found: bool = False
    version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.metadata.get("xnat_monai", {}).get("training", {}))

    @property
    def seen(self) -> SeenData:
        return SeenData.from_training(self.training if self.found else None)


def _get_file_json(client: XnatClient, path: str) -> dict[str, Any] | None:
    try:
        document = client.get(path).json()
    except (UserError, ValueError) as exc:
        log.info("no JSON at %s (%s)", path, str(exc).splitlines()[0] if str(exc) else exc)
        return None
    return document if isinstance(document, dict) else None


def read_model(client: XnatClient, project: str, model: str) -> ModelRecord:
    path = paths.resource_file(
        paths.project(project), MODELS_RESOURCE, f"{model}/configs/metadata.json"
    )
    metadata = _get_file_json(client, path)
    if metadata is None:
        log.warning(
            "model %s has no bundle in %s/%s: its training data is unknown, so no session "
            "can be called unseen",
            model,
            project,
            MODELS_RESOURCE,
        )
        return ModelRecord(model)
    return ModelRecord(model, True, str(metadata.get("version", "")), metadata)


def mark_roles(cases: Sequence[CaseEvaluation], models: dict[str, ModelRecord]) -> None:
    """Set each case's role with respect to the model that segmented it."""
    for case in cases:
        record = models.get(case.model)
        seen = record.seen if record is not None else SeenData(None)
        case.role = seen.role(case.session_id, case.session_label, case.subject)


# ---- energy -----------------------------------------------------------------------------------
def _energy_joules(document: dict[str, Any] | None) -> tuple[float, bool] | None:
    """(joules, estimated) from a report's provenance, or None when it records none."""
    energy = ((document or {}).get("provenance") or {}).get("energy")
    if not isinstance(energy, dict) or energy.get("joules") is None:
        return None
    return float(energy["joules"]), bool(energy.get("estimated"))


@dataclass
class EnergyTally:
    """Energy per kind of job, summed; jobs whose report records none are counted apart."""

    joules: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    estimated: set[str] = field(default_factory=set)
    missing: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, found: tuple[float, bool] | None) -> None:
        if found is None:
            self.missing[kind] = self.missing.get(kind, 0) + 1
            return
        joules, estimated = found
        self.joules[kind] = self.joules.get(kind, 0.0) + joules
        self.jobs[kind] = self.jobs.get(kind, 0) + 1
        if estimated:
            self.estimated.add(kind)

    def as_dict(self, grid_intensity: float) -> dict[str, Any]:
        total = sum(self.joules.values())
        kwh = total / JOULES_PER_KWH
        return {
            "by_job": {
                kind: {
                    "jobs": self.jobs[kind],
                    "kwh": joules / JOULES_PER_KWH,
                    "estimated": kind in self.estimated,
                }
                for kind, joules in self.joules.items()
            },
            "jobs_without_a_record": self.missing,
            "kwh": kwh,
            "grid_intensity_g_per_kwh": grid_intensity,
            "co2e_g": kwh * grid_intensity,
        }


def tally_energy(
    client: XnatClient, cases: Sequence[CaseEvaluation], models: dict[str, ModelRecord]
) -> EnergyTally:
    """Training of each model, then each session's segmentation and evaluation."""
    tally = EnergyTally()
    for record in models.values():
        if record.found:
            tally.add("train", _energy_joules(record.training))
    for case in cases:
        if case.ai_assessor:
            owner = paths.assessor(case.session_id, case.ai_assessor)
            report = _get_file_json(
                client, paths.resource_file(owner, REPORT_RESOURCE, "report.json")
            )
            tally.add("infer", _energy_joules(report))
        owner = paths.assessor(case.session_id, case.assessor_label)
        metrics = _get_file_json(
            client, paths.resource_file(owner, REPORT_RESOURCE, "metrics.json")
        )
        tally.add("evaluate-session", _energy_joules(metrics))
    return tally


def grid_intensity(value: float | None) -> float:
    if value is None:
        return WORLD_GRID_INTENSITY
    if value < 0:
        raise UserError(f"--grid-intensity {value} must be 0 or more (g CO2e per kWh)")
    return value


# ---- pictures -----------------------------------------------------------------------------------
def picture_links(case: CaseEvaluation) -> dict[str, str]:
    """XNAT paths of a session's segmentation, QC and disagreement pictures; server-relative,
    so they open from the report wherever XNAT serves it (the container's XNAT_HOST may be an
    internal address)."""
    links = {"session": paths.experiment(case.session_id)}
    if case.ai_assessor:
        ai = paths.assessor(case.session_id, case.ai_assessor)
        links["segmentation"] = ai
        links["qc"] = paths.resource_file(ai, REPORT_RESOURCE, "qc.png")
    evaluation = paths.assessor(case.session_id, case.assessor_label)
    links["evaluation"] = evaluation
    links["disagreement"] = paths.resource_file(evaluation, REPORT_RESOURCE, "disagreement.png")
    return links


def download_picture(client: XnatClient, path: str, target: Path) -> Path | None:
    """One picture into the report folder, or None (named in the log) when it is missing."""
    try:
        response = client.get(path)
    except UserError as exc:
        log.warning("picture %s is missing (%s)", path, str(exc).splitlines()[0])
        return None
    target.write_bytes(response.content)
    return target
