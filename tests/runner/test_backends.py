from __future__ import annotations

import os
from pathlib import Path

from xnat_plugin.commands.model import Command
from xnat_plugin.runner.backends import (
    LaunchEnvironment,
    docker_run_arguments,
    process_environment,
)
from xnat_plugin.runner.resolved import ResolvedCommand, ResolvedMount
from xnat_plugin.runner.shell_line import ShellLine, rewrite_container_paths
from xnat_plugin.runner.stage import archive_layout, make_read_only, make_writable
from xnat_plugin.runner.xnat_objects import XnatObject


def resolved_with(command: dict, mounts: list[ResolvedMount]) -> ResolvedCommand:
    parsed = Command.model_validate(
        {"name": "c", "image": "img:1", "xnat": [{"name": "w"}], **command}
    )
    return ResolvedCommand(
        command=parsed,
        wrapper=parsed.xnat[0],
        project=None,
        input_values={},
        input_objects={},
        shell_line=ShellLine.trusted(parsed.command_line or ""),
        environment=dict(parsed.environment_variables),
        working_directory=parsed.working_directory,
        mounts=mounts,
        outputs=[],
    )


def test_container_paths_are_rewritten_only_as_whole_path_components() -> None:
    mapping = {"/input": Path("/host/in"), "/input/extra": Path("/host/x"), "/out": Path("/o")}
    text = "run --input=/input /input/a /input/extra/b /data/input /inputs '/out'"
    assert rewrite_container_paths(text, mapping) == (
        "run --input=/host/in /host/in/a /host/x/b /data/input /inputs '/o'"
    )


def test_process_environment_carries_xnat_variables_and_rewritten_command_env(
    tmp_path: Path,
) -> None:
    resolved = resolved_with(
        {"environment-variables": {"OUT": "/output/x", "XNAT_PASS": "overridden?"}},
        [ResolvedMount("out", "/output", True, host_path=tmp_path)],
    )
    env = process_environment(
        resolved,
        LaunchEnvironment("http://127.0.0.1:1", "alias", "secret", "w1", "e1"),
        {"/output": tmp_path},
        tmp_path / "home",
    )
    assert env["OUT"] == f"{tmp_path}/x"
    assert env["XNAT_PASS"] == "secret"
    assert env["XNAT_WORKFLOW_ID"] == "w1" and env["XNAT_EVENT_ID"] == "e1"
    assert env["PATH"].split(":")[0].endswith("/bin")


def test_launch_environment_never_shows_its_secret() -> None:
    launch = LaunchEnvironment("http://x", "alias", "s3cret")
    assert "s3cret" not in repr(launch)


def test_docker_arguments_follow_standalone_docker_semantics(tmp_path: Path) -> None:
    resolved = resolved_with(
        {
            "command-line": "python -m containers.infer --input /input",
            "override-entrypoint": True,
            "runtime": "nvidia",
            "generic-resources": {"gpu": "1"},
            "shm-size": 4294967296,
            "limit-memory": 8192,
            "limit-cpu": 2.5,
        },
        [
            ResolvedMount("in", "/input", False, host_path=tmp_path / "a"),
            ResolvedMount("out", "/output", True, host_path=tmp_path / "b"),
        ],
    )
    arguments = docker_run_arguments(resolved, LaunchEnvironment("http://h", "u", "p"))
    assert arguments["entrypoint"] == ["/bin/sh", "-c"]
    assert arguments["command"] == ["python -m containers.infer --input /input"]
    assert arguments["volumes"][str(tmp_path / "a")] == {"bind": "/input", "mode": "ro"}
    assert arguments["volumes"][str(tmp_path / "b")] == {"bind": "/output", "mode": "rw"}
    assert arguments["runtime"] == "nvidia"
    assert arguments["shm_size"] == 4294967296
    assert arguments["mem_limit"] == "8192m"
    assert arguments["nano_cpus"] == 2_500_000_000
    # No network named by the command: Docker's default, never the host's (DockerControlApi).
    assert "network_mode" not in arguments
    # No container user set on the server: the image's own USER applies.
    assert "user" not in arguments
    assert arguments["device_requests"][0]["Count"] == 1
    assert arguments["environment"]["XNAT_HOST"] == "http://h"


def test_without_override_entrypoint_the_command_line_is_shell_split(tmp_path: Path) -> None:
    resolved = resolved_with(
        {"command-line": "echo 'a b' c"}, [ResolvedMount("o", "/o", True, host_path=tmp_path)]
    )
    arguments = docker_run_arguments(resolved, LaunchEnvironment("http://h", "u", "p"))
    assert "entrypoint" not in arguments
    assert arguments["command"] == ["echo", "a b", "c"]
    assert "device_requests" not in arguments


def test_a_downloaded_session_is_laid_out_like_the_archive_and_made_read_only(
    tmp_path: Path,
) -> None:
    session = XnatObject(
        "Session",
        {
            "resources": [{"label": "NOTES", "files": [{"name": "n.txt", "uri": "u1"}]}],
            "scans": [
                {"id": "2", "resources": [{"label": "DICOM", "files": [{"name": "s/1.dcm"}]}]}
            ],
            "assessors": [
                {"label": "A", "resources": [{"label": "SEG", "files": [{"name": "seg.dcm"}]}]}
            ],
        },
    )
    assert [path for path, _ in archive_layout(session)] == [
        "RESOURCES/NOTES/n.txt",
        "SCANS/2/DICOM/s/1.dcm",
        "ASSESSORS/A/SEG/seg.dcm",
    ]
    folder = tmp_path / "m"
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "f").write_text("x")
    make_read_only(folder)
    assert not ((folder / "d" / "f").stat().st_mode & 0o222)
    assert not ((folder / "d").stat().st_mode & 0o222)
    make_writable(folder)
    (folder / "d" / "f").write_text("y")


class FakeDockerContainer:
    """Stands in for docker-py's Container: what the engine reads after `wait()`."""

    def __init__(self, status_code: int, oom: bool) -> None:
        self.id = "c0ffee"
        self.attrs = {"State": {"OOMKilled": oom}}
        self.status_code = status_code
        self.killed = False

    def wait(self) -> dict:
        return {"StatusCode": self.status_code}

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return b"out\n" if stdout else b"err\n"

    def reload(self) -> None:
        pass

    def kill(self) -> None:
        self.killed = True


class FakeDockerClient:
    def __init__(self, container: FakeDockerContainer) -> None:
        self.container = container
        self.run_arguments: dict = {}
        self.containers = self

    def run(self, **arguments: object) -> FakeDockerContainer:
        self.run_arguments = arguments
        return self.container


def test_the_docker_backend_saves_logs_and_reports_out_of_memory(tmp_path: Path) -> None:
    from xnat_plugin.runner.backends import DockerBackend

    resolved = resolved_with(
        {"command-line": "run"}, [ResolvedMount("o", "/o", True, host_path=tmp_path / "o")]
    )
    client = FakeDockerClient(FakeDockerContainer(137, oom=True))
    running = DockerBackend(client).start(
        resolved, LaunchEnvironment("http://h", "u", "p"), tmp_path / "logs"
    )
    report = running.wait()
    assert (report.exit_code, report.out_of_memory, report.killed) == (137, True, False)
    assert (tmp_path / "logs" / "stdout.log").read_bytes() == b"out\n"
    assert (tmp_path / "logs" / "stderr.log").read_bytes() == b"err\n"
    assert client.run_arguments["image"] == "img:1"
    running.kill()
    assert client.container.killed


def test_the_process_backend_passes_only_what_container_service_passes(
    tmp_path: Path, monkeypatch
) -> None:
    """Container Service gives a container the image's variables, the command's and XNAT_*
    (`DockerControlApi`: `withEnv(environmentVariables)`), none of the XNAT server's own."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "server-only")
    monkeypatch.setenv("XNAT_PASS", "the-server-admin-password")
    monkeypatch.setenv("LANG", "C.UTF-8")
    resolved = resolved_with(
        {"environment-variables": {"MODE": "fast"}},
        [ResolvedMount("out", "/output", True, host_path=tmp_path)],
    )
    env = process_environment(
        resolved, LaunchEnvironment("http://h", "alias", "token"), {"/output": tmp_path}, tmp_path
    )
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["XNAT_PASS"] == "token"
    assert env["LANG"] == "C.UTF-8" and env["MODE"] == "fast"
    assert env["HOME"] == str(tmp_path)
    from xnat_plugin.runner.backends import HOST_VARIABLES_KEPT

    image_like = {"PYTHONPATH", "PYTHONUNBUFFERED", "HOME"}
    command_and_xnat = {"MODE", *LaunchEnvironment("h", "u", "p").variables()}
    assert set(env) <= {*HOST_VARIABLES_KEPT, *image_like, *command_and_xnat}


def test_a_process_job_sees_no_variable_of_the_server(tmp_path: Path, monkeypatch) -> None:
    from xnat_plugin.runner.backends import ProcessBackend

    monkeypatch.setenv("SERVER_ONLY_SECRET", "s3")
    resolved = resolved_with(
        {"command-line": "env > /output/env.txt", "override-entrypoint": True},
        [ResolvedMount("out", "/output", True, host_path=tmp_path / "out")],
    )
    (tmp_path / "out").mkdir()
    job = ProcessBackend().start(resolved, LaunchEnvironment("http://h", "u", "p"), tmp_path / "l")
    assert job.wait().exit_code == 0
    seen = dict(
        line.split("=", 1) for line in (tmp_path / "out" / "env.txt").read_text().splitlines()
    )
    assert "SERVER_ONLY_SECRET" not in seen
    assert seen["XNAT_USER"] == "u"


def test_docker_jobs_get_host_networking_only_when_the_command_names_it(tmp_path: Path) -> None:
    """`DockerControlApi`: `if (!isNullOrEmpty(network)) hostConfig.withNetworkMode(network)`."""
    mounts = [ResolvedMount("o", "/o", True, host_path=tmp_path)]
    plain = docker_run_arguments(
        resolved_with({"command-line": "x"}, mounts), LaunchEnvironment("h", "u", "p")
    )
    host = docker_run_arguments(
        resolved_with({"command-line": "x", "network": "host"}, mounts),
        LaunchEnvironment("h", "u", "p"),
    )
    assert "network_mode" not in plain
    assert host["network_mode"] == "host"


def test_docker_jobs_run_as_the_container_user_setting_blank_meaning_the_images(
    tmp_path: Path,
) -> None:
    """`DockerControlApi`: `withUser(defaultIfBlank(server.containerUser(), ""))`."""
    resolved = resolved_with(
        {"command-line": "x"}, [ResolvedMount("o", "/o", True, host_path=tmp_path)]
    )
    launch = LaunchEnvironment("h", "u", "p")
    assert "user" not in docker_run_arguments(resolved, launch, "")
    assert "user" not in docker_run_arguments(resolved, launch, "  ")
    assert docker_run_arguments(resolved, launch, "1000:1000")["user"] == "1000:1000"


def test_the_docker_backend_leaves_the_build_folders_as_staging_made_them(tmp_path: Path) -> None:
    from xnat_plugin.runner.backends import DockerBackend
    from xnat_plugin.runner.stage import make_build_directory

    out = make_build_directory(tmp_path / "o")
    resolved = resolved_with(
        {"command-line": "run"}, [ResolvedMount("o", "/o", True, host_path=out)]
    )
    client = FakeDockerClient(FakeDockerContainer(0, oom=False))
    DockerBackend(client, container_user="").start(
        resolved, LaunchEnvironment("http://h", "u", "p"), tmp_path / "logs"
    )
    mode = out.stat().st_mode & 0o777
    assert mode & 0o022 == 0 and mode & 0o200  # its owner writes, nobody else (never 0777)
    assert out.stat().st_uid == os.geteuid()
