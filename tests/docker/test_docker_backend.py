"""The runner's docker backend on a real Docker engine, with the output folder as Container
Service leaves it: created by XNAT's own user, writable by that user only
(`CommandResolutionServiceImpl.getBuildDirectory`: `Files.createDirectory` + `setWritable(true)`),
and the container started as the Docker server's "container user" (`DockerControlApi.
createDockerContainer`: `withUser(containerUser)`, blank by default: the image's own user).

Here `xnat-monai run` itself runs as a uid of its own ("XNAT's user", when the tests run as root),
so every build folder belongs to another uid than the image's user (root). The infer image's CPU
variant is built from docker/ on a registry-free Debian base (`.ci/docker-engine.sh start`).

CI sets XNAT_MONAI_REQUIRE_DOCKER=1, so there these tests fail, never skip, without an engine.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from tests.bundles import tiny_bundle
from xnat_plugin.cli import main
from xnat_plugin.client import connect
from xnat_plugin.client.browse import list_assessors
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.sandbox.archive import archive_directory
from xnat_plugin.sandbox.seed.seeding import seed_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
COMMAND_FILE = REPO / "command_json" / "xnat-monai-infer-cpu.json"
WRAPPER = "monai-segment-session-cpu"
# The uid XNAT runs as on this pretend site (tomcat's, on a real one); used when tests run as root.
SITE_XNAT_UID = 4242
# A uid that does not own the build folders: the fixed USER the images once had.
OTHER_UID = 10001


def _infer_image() -> str:
    return json.loads(COMMAND_FILE.read_text())[0]["image"]


@pytest.fixture(scope="module")
def docker_engine() -> object:
    """The engine, with the infer CPU image built; skips locally, fails in CI."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
        client.images.get(_infer_image())
    except Exception as exc:  # no engine, or the image is not built
        message = (
            f"no Docker engine with image {_infer_image()} ({type(exc).__name__}: {exc}); "
            "run `.ci/docker-engine.sh start` and export the DOCKER_HOST it prints"
        )
        if os.environ.get("XNAT_MONAI_REQUIRE_DOCKER"):
            pytest.fail(message)
        pytest.skip(message)
    return client


def _xnat_uid() -> int:
    return SITE_XNAT_UID if os.geteuid() == 0 else os.geteuid()


@pytest.fixture
def xnat_workdir() -> Iterator[Path]:
    """A folder the runner, as XNAT's user, keeps its build folders in."""
    folder = Path(tempfile.mkdtemp(prefix="xnat-monai-docker-test-"))
    os.chown(folder, _xnat_uid(), _xnat_uid())
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# `xnat-monai run` for an interpreter and this environment's site-packages (added after the
# standard library, as a venv orders them).
RUN_CLI = "import site, sys; site.addsitedir(sys.argv.pop(1)); from xnat_plugin.cli import main; "
RUN_CLI += "sys.exit(main(sys.argv[1:]))"


def _as_xnat_user() -> dict[str, object]:
    """subprocess arguments that run as XNAT's user, in the Docker socket's group."""
    if os.geteuid() != 0:
        return {}
    socket = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    groups = [os.stat(socket).st_gid] if os.path.exists(socket) else []
    return {"user": SITE_XNAT_UID, "group": SITE_XNAT_UID, "extra_groups": groups}


@pytest.fixture(scope="module")
def xnat_user_cli() -> list[str]:
    """The command line of `xnat-monai` that XNAT's user can run (this interpreter may sit in a
    folder only root can enter: then a system Python of the same version with our packages)."""
    site_packages = sysconfig.get_paths()["purelib"]
    candidates = [sys.executable, "/usr/bin/python3.11", "/usr/local/bin/python3.11"]
    for python in dict.fromkeys(candidates):
        command = [python, "-c", RUN_CLI, site_packages]
        try:
            probe = subprocess.run(
                [*command, "--version"],
                capture_output=True,
                timeout=120,
                cwd="/",
                **_as_xnat_user(),
            )  # type: ignore[call-overload]
        except OSError:  # not there, or in a folder XNAT's user may not enter
            continue
        if probe.returncode == 0:
            return command
    pytest.fail(f"no Python 3.11 that uid {_xnat_uid()} may run with {site_packages}")


def _run_as_xnat_user(
    cli: list[str], url: str, session_id: str, workdir: Path, container_user: str = ""
) -> subprocess.CompletedProcess[str]:
    """`xnat-monai run --backend docker` as XNAT's user."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "DOCKER_HOST": os.environ.get("DOCKER_HOST", ""),
        "XNAT_USER": "admin",
        "XNAT_PASS": "admin",
    }
    return subprocess.run(
        [
            *cli, "run", "--xnat", url,
            "--wrapper", WRAPPER, "--target", f"/experiments/{session_id}",
            "--command-file", str(COMMAND_FILE), "--project", "DOCK",
            "--input", "model-name=tiny", "--backend", "docker",
            "--container-user", container_user, "--workdir", str(workdir),
        ],
        env=environment, cwd=workdir, capture_output=True, text=True, timeout=900,
        **_as_xnat_user(),  # type: ignore[arg-type]
    )  # fmt: skip


def _seg_pixels(data_dir: Path, session_id: str, label: str) -> np.ndarray:
    # The resource's own folder: `xnat-monai run` uploads over REST, into ASSESSORS/<ID>/
    # (DirectAssessResourceImpl), not the label folder Container Service writes.
    folder = archive_directory(
        data_dir, f"/experiments/{session_id}/assessors/{label}/resources/SEG"
    )
    files = sorted(Path(folder).rglob("*.dcm"))
    assert len(files) == 1, files
    return hd.seg.segread(files[0]).get_volume().array


def _seeded(sandbox: object, tmp_path: Path) -> str:
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:  # type: ignore[attr-defined]
        (seeded,) = seed_project(
            client, "DOCK", 1, sites=1, seed=3, matrix=64, slices=24, show_progress=False
        )
        bundle = tiny_bundle(tmp_path / "models")
        upload_folder(client, "/data/projects/DOCK", "MONAI_MODELS", bundle.parent)
    return seeded.session_id


def _output_folder(workdir: Path) -> Path:
    (folder,) = workdir.glob("*/staging/mounts/output")
    return folder


def test_docker_backend_writes_a_folder_owned_by_xnats_user_and_matches_the_process_backend(
    docker_engine: object, xnat_user_cli: list[str], sandbox, tmp_path: Path, xnat_workdir: Path
) -> None:
    session_id = _seeded(sandbox, tmp_path)
    by_process = main(
        [
            "run", "--xnat", sandbox.url, "--user", "admin", "--password", "admin",
            "--wrapper", WRAPPER, "--target", f"/experiments/{session_id}",
            "--command-file", str(COMMAND_FILE), "--project", "DOCK",
            "--input", "model-name=tiny", "--backend", "process",
            "--workdir", str(tmp_path / "process"),
        ]
    )  # fmt: skip
    assert by_process == 0

    # Container user blank (the default): the image's own user starts the step.
    done = _run_as_xnat_user(xnat_user_cli, sandbox.url, session_id, xnat_workdir)
    assert done.returncode == 0, done.stderr[-3000:]

    output = _output_folder(xnat_workdir)
    info = output.stat()
    assert info.st_uid == _xnat_uid() != 0  # another uid than the image's user (root)
    assert stat.S_IMODE(info.st_mode) & 0o022 == 0  # writable by its owner only
    written = [p for p in output.rglob("*") if p.is_file()]
    assert written and {p.stat().st_uid for p in written} == {_xnat_uid()}

    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        ai = sorted(
            a.label
            for a in list_assessors(client, session_id)
            if a.xsi_type == "icr:roiCollectionData" and "_monai_" in a.label
        )
    assert len(ai) == 2, ai
    by_process_pixels, by_docker_pixels = (_seg_pixels(sandbox.data_dir, session_id, a) for a in ai)
    assert np.array_equal(by_docker_pixels, by_process_pixels)


def test_a_container_user_set_to_xnats_uid_writes_the_outputs(
    docker_engine: object, xnat_user_cli: list[str], sandbox, tmp_path: Path, xnat_workdir: Path
) -> None:
    session_id = _seeded(sandbox, tmp_path)
    done = _run_as_xnat_user(xnat_user_cli, sandbox.url, session_id, xnat_workdir, str(_xnat_uid()))
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "Complete"


def test_a_container_user_that_does_not_own_the_folder_is_told_what_to_set(
    docker_engine: object, xnat_user_cli: list[str], sandbox, tmp_path: Path, xnat_workdir: Path
) -> None:
    session_id = _seeded(sandbox, tmp_path)
    done = _run_as_xnat_user(xnat_user_cli, sandbox.url, session_id, xnat_workdir, str(OTHER_UID))
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["status"].startswith("Failed")
    stderr_log = Path(summary["workdir"], "logs", "stderr.log").read_text()
    lines = [line for line in stderr_log.splitlines() if line.startswith("infer:")]
    assert len(lines) == 1 and f"'container user' to {_xnat_uid()}" in lines[0]
    assert "Traceback" not in stderr_log
    assert list(_output_folder(xnat_workdir).iterdir()) == []


PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3).sendall(b'from the job')\n"
    "except OSError as exc:\n"
    "    sys.exit(f'no connection: {exc}')\n"
)


def _probe_the_hosts_loopback(docker_engine: object, tmp_path: Path, network: str | None) -> tuple:
    """Runs a job of the infer image that connects to a listener on the host's loopback; its exit
    code and what the listener received."""
    import socket

    from xnat_plugin.commands.model import Command
    from xnat_plugin.runner.backends import DockerBackend, LaunchEnvironment
    from xnat_plugin.runner.resolved import ResolvedCommand, ResolvedMount
    from xnat_plugin.runner.shell_line import ShellLine
    from xnat_plugin.runner.stage import make_build_directory

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)
    port = listener.getsockname()[1]
    command = Command.model_validate(
        {
            "name": "probe",
            "image": _infer_image(),
            "command-line": f'python -c "{PROBE}" {port}',
            "override-entrypoint": True,
            "xnat": [{"name": "w"}],
            **({"network": network} if network else {}),
        }
    )
    output = make_build_directory(tmp_path / f"out-{network or 'default'}")
    resolved = ResolvedCommand(
        command=command, wrapper=command.xnat[0], project=None, input_values={},
        input_objects={}, shell_line=ShellLine.trusted(command.command_line or ""),
        environment={}, working_directory=None,
        mounts=[ResolvedMount("output", "/output", True, host_path=output)], outputs=[],
    )  # fmt: skip
    job = DockerBackend(docker_engine).start(
        resolved, LaunchEnvironment("http://h", "u", "p"), tmp_path / f"logs-{network}"
    )
    received = b""
    try:
        with listener.accept()[0] as conn:
            received = conn.recv(100)
    except TimeoutError:
        pass
    finally:
        listener.close()
    report = job.wait()
    job.container.remove(force=True)  # type: ignore[attr-defined]
    return report.exit_code, received


def test_a_docker_job_cannot_reach_the_hosts_loopback_unless_its_command_names_the_host_network(
    docker_engine: object, tmp_path: Path
) -> None:
    """Attack: a job connects to a service on the host's loopback (the sandbox, a database).
    `DockerControlApi.createDockerContainer` sets a network mode only when the command names one
    (`hostConfig.withNetworkMode(network)`); the backend gives no other job the host's network.
    The command that names `host` reaches the listener, so the probe itself works."""
    refused = _probe_the_hosts_loopback(docker_engine, tmp_path, None)
    reached = _probe_the_hosts_loopback(docker_engine, tmp_path, "host")
    assert refused == (1, b""), refused
    assert reached == (0, b"from the job"), reached
