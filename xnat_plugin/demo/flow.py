"""`xnat-monai demo`: the whole study on the embedded sandbox, through the same REST calls and
admin code that a site uses against its real XNAT.

sandbox → seed a synthetic CT project → install the commands → train (project) → infer (bulk,
every session) → evaluate every session → evaluate the project → automation: a new session is
imported (DICOM zip through XNAT's import service), then segmented and evaluated with no one
launching (two event subscriptions) → summary.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from xnat_plugin.admin.automation import (
    subscribe_on_ai_segmentation_created,
    subscribe_on_session_created,
)
from xnat_plugin.admin.install import install_commands
from xnat_plugin.admin.launching import Launched, assign_workflows, bulk_launch, launch
from xnat_plugin.admin.watching import JobInfo, log_tail, wait_for_launches
from xnat_plugin.admin.workflows import await_workflows
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.commands.catalogue import CPU, STEPS, command_json_name
from xnat_plugin.commands.render import rendered_files
from xnat_plugin.demo.settings import (
    EVALUATE_PROJECT_WRAPPER,
    EVALUATE_SEGMENTATION_WRAPPER,
    EVALUATE_SESSION_WRAPPER,
    INFER_WRAPPER,
    MODEL_NAME,
    PROJECT,
    SCAN_RULE,
    TRAIN_WRAPPER,
    DemoSettings,
)
from xnat_plugin.errors import UserError

log = logging.getLogger("xnat-monai.demo")

# The sandbox's container service reads its pool size from here when it starts.
WORKERS_ENV = "XNAT_MONAI_CONTAINER_WORKERS"


@dataclass
class DemoResult:
    url: str
    data_dir: Path
    containers: list[JobInfo] = field(default_factory=list)
    report_dir: Path | None = None
    automation_containers: list[JobInfo] = field(default_factory=list)
    seconds: float = 0.0


def write_cpu_commands(directory: Path) -> Path:
    """The CPU variant of each image's command file (this machine has no GPU)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered_files()
    for step in STEPS:
        name = command_json_name(step, CPU)
        (directory / name).write_text(files[name], encoding="utf-8")
    return directory


@contextmanager
def _container_pool_size(workers: int) -> Iterator[None]:
    previous = os.environ.get(WORKERS_ENV)
    os.environ[WORKERS_ENV] = str(workers)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKERS_ENV, None)
        else:
            os.environ[WORKERS_ENV] = previous


def _stage(number: int, total: int, text: str) -> None:
    log.info("[%d/%d] %s", number, total, text)


def _wait_all(
    xapi: Xapi, launched: list[Launched], what: str, timeout: float, project: str = PROJECT
) -> list[JobInfo]:
    """Wait for launches; any that did not complete ends the demo with XNAT's reason and, when
    it had a container, its log tail."""
    jobs = wait_for_launches(xapi, launched, timeout=timeout, project=project, follow_log=True)
    failed = [job for job in jobs if not job.succeeded]
    for job in failed:
        if job.container is None:
            log.error("%s on %s ended %s: %s", what, job.target, job.status, job.reason)
            continue
        tail = log_tail(xapi, job.container.id, "stderr", lines=15)
        log.error(
            "%s container %s ended %s; stderr ends with:\n%s",
            what,
            job.container.id,
            job.status,
            tail,
        )
    if failed:
        raise UserError(
            f"{len(failed)} of {len(jobs)} {what} launch(es) did not complete: see the reasons "
            f"above, or `xnat-monai status --xnat {xapi.url} --project {project}`"
        )
    return jobs


def run_demo(settings: DemoSettings) -> DemoResult:
    """Run the whole study on a fresh (or reused) sandbox under `settings.workdir`."""
    from xnat_plugin.client import connect
    from xnat_plugin.sandbox.seed.seeding import seed_project
    from xnat_plugin.sandbox.server import running_sandbox

    started = time.monotonic()
    total = 7 if settings.automation else 6
    settings.workdir.mkdir(parents=True, exist_ok=True)
    with (
        _container_pool_size(settings.workers),
        running_sandbox(settings.xnat_dir, workers=settings.workers) as sandbox,
    ):
        result = DemoResult(url=sandbox.url, data_dir=sandbox.data_dir)
        xapi = Xapi(sandbox.url, sandbox.user, sandbox.password)

        _stage(1, total, f"seeding project {PROJECT}: {settings.sessions} synthetic CT sessions")
        with connect(sandbox.url, sandbox.user, sandbox.password) as client:
            seed_project(
                client, PROJECT, settings.sessions, sites=settings.sites, seed=settings.seed
            )

        _stage(2, total, "installing the commands (CPU variants), enabling them, scan rule")
        commands_dir = write_cpu_commands(settings.workdir / "command_json")
        install_commands(xapi, commands_dir, projects=[PROJECT], scan_rule=SCAN_RULE)

        _stage(3, total, f"training model '{MODEL_NAME}' on project {PROJECT}")
        trained = launch(
            xapi, PROJECT, TRAIN_WRAPPER, f"/projects/{PROJECT}", settings.train_inputs
        )
        result.containers += _wait_all(xapi, [trained], "train", timeout=1800)

        _stage(4, total, f"segmenting every session (bulk launch of {INFER_WRAPPER})")
        infer = bulk_launch(xapi, PROJECT, INFER_WRAPPER, inputs={"model-name": MODEL_NAME})
        _refuse_failures(infer.failures, "infer")
        launched = assign_workflows(xapi, infer)
        result.containers += _wait_all(xapi, launched, "infer", timeout=1800)

        _stage(5, total, "evaluating every session against its manual reference")
        evaluations = bulk_launch(xapi, PROJECT, EVALUATE_SESSION_WRAPPER)
        _refuse_failures(evaluations.failures, "evaluate-session")
        launched = assign_workflows(xapi, evaluations)
        result.containers += _wait_all(xapi, launched, "evaluate-session", timeout=1800)

        _stage(6, total, f"evaluating project {PROJECT} as a whole")
        project_eval = launch(
            xapi, PROJECT, EVALUATE_PROJECT_WRAPPER, f"/projects/{PROJECT}", {"run": "demo"}
        )
        result.containers += _wait_all(xapi, [project_eval], "evaluate-project", timeout=1800)
        result.report_dir = (
            project_resource_dir(sandbox.data_dir, PROJECT, "MONAI_EVALUATION") / "demo"
        )

        if settings.automation:
            _stage(7, total, "automation: a new session is imported, segmented and evaluated")
            result.automation_containers = _automation_stage(xapi, sandbox, settings)
        xapi.close()
    result.seconds = time.monotonic() - started
    return result


def _automation_stage(xapi: Xapi, sandbox: Any, settings: DemoSettings) -> list[JobInfo]:
    """Subscribe infer to new sessions and the AI-segmentation evaluation to new AI
    segmentations, import one session through XNAT's import service as a scanner would send
    it, and follow what XNAT launches by itself, through its workflows: infer on the session,
    then evaluate on the AI segmentation infer stored."""
    from xnat_plugin.client import browse, connect
    from xnat_plugin.sandbox.seed.importing import import_session
    from xnat_plugin.sandbox.seed.sites import site_for_session

    subscribe_on_session_created(xapi, PROJECT, INFER_WRAPPER, {"model-name": MODEL_NAME})
    subscribe_on_ai_segmentation_created(xapi, PROJECT, EVALUATE_SEGMENTATION_WRAPPER)
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        # The next free session number, so a reused work dir imports a new session too.
        index = len(browse.list_sessions(client, PROJECT)) + 1
        imported = import_session(
            client, PROJECT, index, settings.seed, site_for_session(index, settings.sites)
        )
        log.info("imported %s (%s)", imported.session_label, imported.session_id)
        infer = _launched_by_event(xapi, INFER_WRAPPER, imported.session_id)
        jobs = _wait_all(xapi, [infer], "automated infer", 900)
        segmentation = _ai_segmentation(client, imported.session_id)
    evaluate = _launched_by_event(xapi, EVALUATE_SEGMENTATION_WRAPPER, segmentation)
    return jobs + _wait_all(xapi, [evaluate], "automated evaluation", 900)


def _launched_by_event(xapi: Xapi, wrapper: str, experiment_id: str) -> Launched:
    """The launch an event subscription made on `experiment_id`: its workflow."""
    try:
        found = await_workflows(xapi, wrapper, [experiment_id], timeout=120)
    except UserError as exc:
        raise UserError(f"{exc} (did the event subscription fire?)") from exc
    return Launched(f"/archive/experiments/{experiment_id}", found[experiment_id].id, wrapper)


def _ai_segmentation(client: Any, session_id: str) -> str:
    """The ID of the AI segmentation infer stored on the session."""
    from xnat_plugin.client import browse

    ai = [
        a
        for a in browse.list_assessors(client, session_id)
        if a.xsi_type == "icr:roiCollectionData" and "_monai_" in a.label
    ]
    if not ai:
        raise UserError(f"session {session_id} has no AI segmentation after the automated infer")
    return max(ai, key=lambda a: a.label).id


def _refuse_failures(failures: list[tuple[str, str]], what: str) -> None:
    if failures:
        target, message = failures[0]
        raise UserError(f"{len(failures)} {what} launch(es) refused, e.g. on {target}: {message}")


def project_resource_dir(data_dir: Path, project: str, label: str) -> Path:
    from xnat_plugin.sandbox.archive import archive_directory

    return Path(archive_directory(data_dir, f"/projects/{project}/resources/{label}"))


def print_where(result: DemoResult, console: Console) -> None:
    console.print(
        f"sandbox data: {result.data_dir}  (restart: xnat-monai sandbox serve "
        f"--port 8080 --data-dir {result.data_dir})"
    )
    if result.report_dir is not None:
        console.print(f"project report: {result.report_dir / 'report.pdf'}")
        console.print(f"               {result.report_dir / 'report.html'}")
