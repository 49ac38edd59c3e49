"""Run a resolved, staged command: as a local process, or as a Docker container.

Both backends give the command what Container Service gives a container: its mounts, the
environment (`XNAT_HOST`, `XNAT_USER`, `XNAT_PASS`, `XNAT_WORKFLOW_ID`, `XNAT_EVENT_ID`, the
command's `environment-variables`), its working directory, and `override-entrypoint`
semantics (`true`: `/bin/sh -c "<command-line>"`; `false`: the command line split like a shell
would, run without a shell). Every value in the command line is quoted where it lands
(`shell_line`), so no shell ever reads a value as syntax. stdout and stderr are saved to files.
Credentials travel only in the environment and are never logged.

The docker backend follows standalone Docker in Container Service (`DockerControlApi.
createDockerContainer`): the container runs as the server's "container user" (blank: the
image's own `USER`), on the network the command names (`network`; none named: Docker's
default), with the build folders exactly as staging made them (writable by their owner only).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from xnat_plugin.errors import UserError
from xnat_plugin.runner.resolved import ResolvedCommand
from xnat_plugin.runner.shell_line import rewrite_container_paths

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LaunchEnvironment:
    """Who the container acts as and where XNAT is (the values of the XNAT_* variables)."""

    xnat_host: str
    xnat_user: str
    xnat_pass: str
    workflow_id: str = ""
    event_id: str = ""

    def __repr__(self) -> str:  # never show the secret
        return f"LaunchEnvironment({self.xnat_host!r}, user={self.xnat_user!r})"

    def variables(self) -> dict[str, str]:
        return {
            "XNAT_HOST": self.xnat_host,
            "XNAT_USER": self.xnat_user,
            "XNAT_PASS": self.xnat_pass,
            "XNAT_WORKFLOW_ID": self.workflow_id,
            "XNAT_EVENT_ID": self.event_id,
        }


@dataclass(frozen=True)
class ExitReport:
    exit_code: int
    out_of_memory: bool = False
    killed: bool = False


class RunningContainer(Protocol):
    """A started command: wait for it, or kill it."""

    backend_id: str

    def wait(self) -> ExitReport: ...

    def kill(self) -> None: ...


class Backend(Protocol):
    name: str

    def start(
        self, resolved: ResolvedCommand, launch: LaunchEnvironment, log_dir: Path
    ) -> RunningContainer: ...


# --------------------------------------------------------------------------- process backend

# What a job's process takes from this server's own environment: only what the interpreter and
# the C library need to find programs, read text and trust an https XNAT (where this machine keeps
# its CA certificates). Container Service passes a container no variable of the XNAT server at
# all (its variables are the image's, the command's and XNAT_*).
HOST_VARIABLES_KEPT = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _mount_mapping(resolved: ResolvedCommand) -> dict[str, Path]:
    mapping: dict[str, Path] = {}
    for mount in resolved.mounts:
        if mount.host_path is None:
            raise UserError(f"mount {mount.name} was not staged; stage mounts before running")
        mapping[mount.container_path] = mount.host_path
    return mapping


def process_environment(
    resolved: ResolvedCommand, launch: LaunchEnvironment, mapping: Mapping[str, Path], home: Path
) -> dict[str, str]:
    """The environment of a process-backend run: the host's `HOST_VARIABLES_KEPT` (this
    interpreter's bin first on PATH), what the images set (this package importable, unbuffered
    output), a HOME of the job's own, the command's variables and XNAT_*."""
    env = {name: os.environ[name] for name in HOST_VARIABLES_KEPT if os.environ.get(name)}
    interpreter_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([interpreter_bin, env.get("PATH", DEFAULT_PATH)])
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    # Not the server's home: nothing of its user's (~/.netrc, caches) reaches the job.
    env["HOME"] = str(home)
    for name, value in resolved.environment.items():
        env[name] = rewrite_container_paths(value, mapping)
    env.update(launch.variables())
    return env


class ProcessContainer:
    def __init__(self, process: subprocess.Popen[bytes], handles: list[Any]) -> None:
        self.process = process
        self.backend_id = f"process-{process.pid}"
        self._handles = handles
        self._killed = threading.Event()

    def wait(self) -> ExitReport:
        pid = self.process.pid
        with contextlib.suppress(ChildProcessError):
            # Wait for the exit without reaping it, so the group id stays this job's; then end
            # the group: a container's processes end with it, and nothing the job left behind
            # keeps running (or changes its outputs while they are checked and uploaded).
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        code = self.process.wait()
        for handle in self._handles:
            handle.close()
        return ExitReport(code, killed=self._killed.is_set())

    def kill(self) -> None:
        if self.process.poll() is not None:
            return
        self._killed.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


class ProcessBackend:
    """Runs the command line on this machine, each container path mapped to its host folder."""

    name = "process"

    def start(
        self, resolved: ResolvedCommand, launch: LaunchEnvironment, log_dir: Path
    ) -> ProcessContainer:
        mapping = _mount_mapping(resolved)
        command_line = resolved.shell_line.render(host_paths=mapping)
        log_dir.mkdir(parents=True, exist_ok=True)
        home = log_dir.parent / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        env = process_environment(resolved, launch, mapping, home)
        workdir = (
            Path(rewrite_container_paths(resolved.working_directory, mapping))
            if resolved.working_directory
            else log_dir
        )
        if not workdir.is_dir():
            raise UserError(
                f"working directory {resolved.working_directory} is not a mount of the command; "
                "set working-directory to one of its mount paths"
            )
        argv = (
            ["/bin/sh", "-c", command_line]
            if resolved.override_entrypoint
            else shlex.split(command_line)
        )
        if not argv:
            raise UserError(f"command {resolved.command.name!r} has an empty command line")
        stdout = (log_dir / "stdout.log").open("wb")
        stderr = (log_dir / "stderr.log").open("wb")
        # The command line itself may hold sensitive input values: log only what runs where.
        log.info("running command %s (%s) in %s", resolved.command.name, argv[0], workdir)
        try:
            process = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            stdout.close()
            stderr.close()
            raise UserError(f"cannot start {argv[0]!r}: {exc.strerror}") from exc
        return ProcessContainer(process, [stdout, stderr])


# --------------------------------------------------------------------------- docker backend


def docker_run_arguments(
    resolved: ResolvedCommand, launch: LaunchEnvironment, container_user: str = ""
) -> dict[str, Any]:
    """Keyword arguments of `docker.containers.run` for this command (no I/O here).
    `container_user` is the Docker server setting "container user" (blank: the image's USER)."""
    command = resolved.command
    volumes = {}
    for mount in resolved.mounts:
        if mount.host_path is None:
            raise UserError(f"mount {mount.name} was not staged; stage mounts before running")
        volumes[str(mount.host_path)] = {
            "bind": mount.container_path,
            "mode": "rw" if mount.writable else "ro",
        }
    environment = {**resolved.environment, **launch.variables()}
    arguments: dict[str, Any] = {
        "image": command.image,
        "detach": True,
        "volumes": volumes,
        "environment": environment,
        "labels": {"org.nrg.container-service.command": command.name},
    }
    if container_user.strip():
        arguments["user"] = container_user.strip()
    if command.network:
        # Only a command that names a network gets one (host networking included), as in
        # Container Service; otherwise Docker's default network.
        arguments["network_mode"] = command.network
    if resolved.override_entrypoint:
        arguments["entrypoint"] = ["/bin/sh", "-c"]
        arguments["command"] = [resolved.command_line]
    else:
        arguments["command"] = shlex.split(resolved.command_line)
    if resolved.working_directory:
        arguments["working_dir"] = resolved.working_directory
    if command.runtime:
        arguments["runtime"] = command.runtime
    if command.shm_size:
        arguments["shm_size"] = int(command.shm_size)
    if command.limit_memory:
        arguments["mem_limit"] = f"{int(command.limit_memory)}m"
    if command.reserve_memory:
        arguments["mem_reservation"] = f"{int(command.reserve_memory)}m"
    if command.limit_cpu:
        arguments["nano_cpus"] = int(float(command.limit_cpu) * 1_000_000_000)
    if command.ipc_mode:
        arguments["ipc_mode"] = command.ipc_mode
    gpus = (command.generic_resources or {}).get("gpu")
    if gpus and command.runtime == "nvidia":
        import docker.types

        arguments["device_requests"] = [
            docker.types.DeviceRequest(count=int(gpus), capabilities=[["gpu"]])
        ]
    return arguments


class DockerContainer:
    def __init__(self, container: Any, log_dir: Path) -> None:
        self.container = container
        self.backend_id = str(container.id)
        self.log_dir = log_dir
        self._killed = threading.Event()

    def wait(self) -> ExitReport:
        result = self.container.wait()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.log_dir / "stdout.log").write_bytes(self.container.logs(stdout=True, stderr=False))
        (self.log_dir / "stderr.log").write_bytes(self.container.logs(stdout=False, stderr=True))
        self.container.reload()
        oom = bool(self.container.attrs.get("State", {}).get("OOMKilled"))
        return ExitReport(int(result.get("StatusCode", -1)), oom, self._killed.is_set())

    def kill(self) -> None:
        self._killed.set()
        try:
            self.container.kill()
        except Exception as exc:  # the container may already have exited
            log.debug("kill %s: %s", self.backend_id, exc)


class DockerBackend:
    """Runs the command's image with the Docker engine (standalone-Docker semantics)."""

    name = "docker"

    def __init__(self, client: Any | None = None, *, container_user: str = "") -> None:
        self._client = client
        self.container_user = container_user

    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env()  # type: ignore[attr-defined]
                self._client.ping()
            except Exception as exc:
                raise UserError(
                    f"cannot reach the Docker engine ({type(exc).__name__}); start Docker or "
                    "use --backend process"
                ) from exc
        return self._client

    def start(
        self, resolved: ResolvedCommand, launch: LaunchEnvironment, log_dir: Path
    ) -> DockerContainer:
        arguments = docker_run_arguments(resolved, launch, self.container_user)
        try:
            container = self.client().containers.run(**arguments)
        except Exception as exc:
            raise UserError(f"Docker could not start {resolved.image}: {exc}") from exc
        return DockerContainer(container, log_dir)


def backend_named(name: str, *, container_user: str = "") -> Backend:
    if name == "process":
        return ProcessBackend()
    if name == "docker":
        return DockerBackend(container_user=container_user)
    raise UserError(f"unknown backend {name!r}; use process or docker")
