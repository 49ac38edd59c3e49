"""`xnat-monai demo --task classification`: the classifier's study on the embedded sandbox,
through the same REST calls and admin code a site uses.

sandbox → seed a project of abdominal CT with or without a liver lesion (the class a session
field) → the class lists: training sessions and held-out sessions, two CSVs in a project
resource → install the commands → train the classifier (project) → classify every session
(bulk launch) → the project report on the held-out sessions → automation: a new session is
imported and classified with no one launching.
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from xnat_plugin.admin.automation import subscribe_on_session_created
from xnat_plugin.admin.install import install_commands
from xnat_plugin.admin.launching import assign_workflows, bulk_launch, launch
from xnat_plugin.admin.xapi import Xapi
from xnat_plugin.demo.flow import (
    DemoResult,
    _container_pool_size,
    _launched_by_event,
    _refuse_failures,
    _stage,
    _wait_all,
    project_resource_dir,
    write_cpu_commands,
)
from xnat_plugin.demo.settings import (
    CLASSIFIER_NAME,
    CLASSIFY_EVALUATE_WRAPPER,
    CLASSIFY_INFER_WRAPPER,
    CLASSIFY_PROJECT,
    CLASSIFY_TRAIN_WRAPPER,
    HELD_OUT_CSV,
    LABELS_RESOURCE,
    SCAN_RULE,
    TRAINING_CSV,
    DemoSettings,
)

log = logging.getLogger("xnat-monai.demo")
REPORT_RUN = "demo"


def class_lists(client: Any, settings: DemoSettings) -> dict[str, list[tuple[str, str]]]:
    """(session label, class) of the sessions training reads and of those held out (the last
    quarter seeded), from the seeded session field."""
    from containers.common.class_labels import labels_from_fields
    from xnat_plugin.client.browse import list_sessions
    from xnat_plugin.sandbox.seed.liver_lesion import CLASS_FIELD
    from xnat_plugin.sandbox.seed.seeding import session_label_for

    held_out = {session_label_for(i) for i in range(settings.sessions - settings.held_out + 1,
                                                     settings.sessions + 1)}  # fmt: skip
    sessions = list_sessions(client, CLASSIFY_PROJECT, with_fields=True)
    lists: dict[str, list[tuple[str, str]]] = {TRAINING_CSV: [], HELD_OUT_CSV: []}
    for entry in labels_from_fields(sessions, CLASS_FIELD).labelled:
        which = HELD_OUT_CSV if entry.session.label in held_out else TRAINING_CSV
        lists[which].append((entry.session.label, entry.label))
    return lists


def upload_class_lists(client: Any, lists: dict[str, list[tuple[str, str]]]) -> None:
    from xnat_plugin.client import paths
    from xnat_plugin.client.transfer import upload_file

    with tempfile.TemporaryDirectory() as scratch:
        for name, rows in lists.items():
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            writer.writerow(["session_label", "class"])
            writer.writerows(sorted(rows))
            file = Path(scratch) / name
            file.write_text(text.getvalue(), encoding="utf-8")
            upload_file(client, paths.project(CLASSIFY_PROJECT), LABELS_RESOURCE, name, file)


def run_classification_demo(settings: DemoSettings) -> DemoResult:
    from xnat_plugin.client import connect
    from xnat_plugin.sandbox.seed.seeding import seed_project
    from xnat_plugin.sandbox.server import running_sandbox

    started = time.monotonic()
    total = 6 if settings.automation else 5
    settings.workdir.mkdir(parents=True, exist_ok=True)
    with (
        _container_pool_size(settings.workers),
        running_sandbox(settings.xnat_dir, workers=settings.workers) as sandbox,
    ):
        result = DemoResult(url=sandbox.url, data_dir=sandbox.data_dir)
        xapi = Xapi(sandbox.url, sandbox.user, sandbox.password)

        _stage(1, total, f"seeding project {CLASSIFY_PROJECT}: {settings.sessions} synthetic CT "
               "sessions with or without a liver lesion")  # fmt: skip
        with connect(sandbox.url, sandbox.user, sandbox.password) as client:
            seed_project(client, CLASSIFY_PROJECT, settings.sessions, sites=settings.sites,
                         seed=settings.seed, task="classification")  # fmt: skip
            lists = class_lists(client, settings)
            upload_class_lists(client, lists)
        log.info("%d sessions to train on, %d held out (%s/%s)", len(lists[TRAINING_CSV]),
                 len(lists[HELD_OUT_CSV]), LABELS_RESOURCE, HELD_OUT_CSV)  # fmt: skip

        _stage(2, total, "installing the commands (CPU variants), enabling them, scan rule")
        commands_dir = write_cpu_commands(settings.workdir / "command_json")
        install_commands(xapi, commands_dir, projects=[CLASSIFY_PROJECT], scan_rule=SCAN_RULE)

        _stage(3, total, f"training classifier '{CLASSIFIER_NAME}' on project {CLASSIFY_PROJECT}")
        trained = launch(xapi, CLASSIFY_PROJECT, CLASSIFY_TRAIN_WRAPPER,
                         f"/projects/{CLASSIFY_PROJECT}", settings.classify_train_inputs)  # fmt: skip
        result.containers += _wait_all(xapi, [trained], "classify train", 3600, CLASSIFY_PROJECT)

        _stage(4, total, f"classifying every session (bulk launch of {CLASSIFY_INFER_WRAPPER})")
        infer = bulk_launch(xapi, CLASSIFY_PROJECT, CLASSIFY_INFER_WRAPPER,
                            inputs={"model-name": CLASSIFIER_NAME})  # fmt: skip
        _refuse_failures(infer.failures, "classify infer")
        launched = assign_workflows(xapi, infer)
        result.containers += _wait_all(xapi, launched, "classify infer", 3600, CLASSIFY_PROJECT)

        _stage(5, total, f"the project report on the {len(lists[HELD_OUT_CSV])} held-out sessions")
        report = launch(
            xapi, CLASSIFY_PROJECT, CLASSIFY_EVALUATE_WRAPPER, f"/projects/{CLASSIFY_PROJECT}",
            {"run": REPORT_RUN, "label-field": "",
             "label-csv": f"{LABELS_RESOURCE}/{HELD_OUT_CSV}"},
        )  # fmt: skip
        result.containers += _wait_all(
            xapi, [report], "classify evaluate-project", 1800, CLASSIFY_PROJECT
        )
        result.report_dir = (
            project_resource_dir(sandbox.data_dir, CLASSIFY_PROJECT, "MONAI_EVALUATION")
            / REPORT_RUN
        )

        if settings.automation:
            _stage(6, total, "automation: a new session is imported and classified")
            result.automation_containers = _automation_stage(xapi, sandbox, settings)
        xapi.close()
    result.seconds = time.monotonic() - started
    return result


def _automation_stage(xapi: Xapi, sandbox: Any, settings: DemoSettings) -> list:
    from xnat_plugin.client import browse, connect
    from xnat_plugin.sandbox.seed.importing import import_session
    from xnat_plugin.sandbox.seed.sites import site_for_session

    subscribe_on_session_created(
        xapi, CLASSIFY_PROJECT, CLASSIFY_INFER_WRAPPER, {"model-name": CLASSIFIER_NAME}
    )
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        index = len(browse.list_sessions(client, CLASSIFY_PROJECT)) + 1
        imported = import_session(client, CLASSIFY_PROJECT, index, settings.seed,
                                  site_for_session(index, settings.sites))  # fmt: skip
    log.info("imported %s (%s)", imported.session_label, imported.session_id)
    infer = _launched_by_event(xapi, CLASSIFY_INFER_WRAPPER, imported.session_id)
    return _wait_all(xapi, [infer], "automated classify infer", 900, CLASSIFY_PROJECT)
