"""Who a step runs as: the owner of its output folder.

Container Service creates the output folder (a build directory) as XNAT's own user, writable by
that user only (`CommandResolutionServiceImpl.getBuildDirectory`), and starts the container as
the Docker server's "container user" setting, blank by default, so the image's own user applies
(`DockerControlApi`: `withUser(containerUser)`). XNAT's uid differs from site to site, so no fixed
non-root image user can write there. The images therefore start as root and, before a step reads
anything, `run_as_output_owner` takes the uid and gid of the folder's owner for good: the step
writes its outputs as XNAT's user (who can then upload and clean them up) and never runs model
code as root. A site that sets "container user" (required on Kubernetes clusters that refuse root
pods) starts the step as that user directly, which must then be XNAT's uid.

Outside a container (a local run, the process backend) the step runs as whoever starts it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from xnat_plugin.errors import UserError

log = logging.getLogger(__name__)


def run_as_output_owner(output: Path) -> None:
    """As root: become the owner of `output` (an existing folder owned by another user) for the
    rest of the process. Then refuse, with what to set, an `output` this user cannot write."""
    try:
        info = output.stat()
    except FileNotFoundError:
        return  # a local run: the step creates its own output folder
    if os.geteuid() == 0 and info.st_uid != 0:
        os.setgroups([])
        os.setgid(info.st_gid)
        os.setuid(info.st_uid)  # real, effective and saved: root cannot come back
        if not os.access(os.environ.get("HOME", "/"), os.W_OK):
            os.environ["HOME"] = "/tmp"
        log.debug("running as uid %d, gid %d (the owner of %s)", info.st_uid, info.st_gid, output)
    if not stat.S_ISDIR(info.st_mode) or os.access(output, os.W_OK | os.X_OK):
        return
    if os.getuid() == info.st_uid:
        raise UserError(
            f"cannot write the output folder {output}: its mode {stat.S_IMODE(info.st_mode):o} "
            "does not let even its owner write; Container Service makes it writable by its owner"
        )
    raise UserError(
        f"cannot write the output folder {output} as uid {os.getuid()}: it belongs to uid "
        f"{info.st_uid} (mode {stat.S_IMODE(info.st_mode):o}), as Container Service creates it "
        f"for XNAT's user; set the Docker server's 'container user' to {info.st_uid} or "
        "leave it blank (the image then starts as root and becomes the folder's owner)"
    )
