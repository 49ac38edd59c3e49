"""`xnat-monai models add`: check a bundle (folder or zip), then upload it to MONAI_MODELS.

The check runs the infer step's own checker (`python -m containers.infer.bundle_check`) in a
child process: this package never imports torch or MONAI, and the check needs both. It builds
the network and runs a forward pass, but never the bundle's own code (see the checker). The
bundle goes up with a model card (`xnat-monai-model.json`: what was checked, the code and
weights checksums), and every file is verified by its MD5 after the upload.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from xnat_plugin.client import XnatClient, paths
from xnat_plugin.client.browse import list_files, list_resources
from xnat_plugin.client.transfer import upload_folder
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import METADATA, MODEL_CARD, MODELS_RESOURCE, check_model_name

log = logging.getLogger(__name__)

CHECKER = "containers.infer.bundle_check"
# A bundle is configs, scripts and weights: far below this, and a zip bomb far above.
MAX_UNZIPPED_BYTES = 20 * 1024**3


@dataclass(frozen=True)
class AddedModel:
    name: str
    files: int
    card: dict[str, Any]


def add_model(
    client: XnatClient,
    project: str,
    source: Path,
    *,
    name: str | None = None,
    replace: bool = False,
    show_progress: bool = True,
) -> AddedModel:
    """Check the bundle at `source` and upload it as MONAI_MODELS/<name>/ of `project`."""
    with tempfile.TemporaryDirectory(prefix="xnat-monai-model-") as scratch:
        root = _bundle_root(source, Path(scratch) / "unzipped")
        name = check_model_name(name or (source.stem if source.is_file() else root.name))
        facts = run_bundle_check(root)
        project_path = paths.project(project)
        existing = _existing_files(client, project_path, name)
        if existing and not replace:
            raise UserError(
                f"project {project} already has a model {name!r} ({len(existing)} files in "
                f"{MODELS_RESOURCE}/{name}/): choose another --name, or --replace it"
            )
        card = {
            **facts,
            "added": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "added_with": "xnat-monai models add",
            "source": source.name,
        }
        staged = Path(scratch) / "upload"
        shutil.copytree(root, staged / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (staged / name / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n")
        for stale in existing:
            # Files of the old version that the new one lacks would still be read (e.g. fold
            # members are preferred over models/model.pt): the folder is replaced whole.
            client.delete(paths.resource_file(project_path, MODELS_RESOURCE, stale))
        uploaded = [
            f
            for f in upload_folder(
                client, project_path, MODELS_RESOURCE, staged, show_progress=show_progress
            )
            if f.path.startswith(f"{name}/")
        ]
    return AddedModel(name=name, files=len(uploaded), card=card)


def run_bundle_check(root: Path) -> dict[str, Any]:
    """The infer step's checker on `root`, in a child process; its facts as a dict."""
    if importlib.util.find_spec("containers") is None or importlib.util.find_spec("torch") is None:
        raise UserError(
            "checking a bundle needs the steps' packages (torch, MONAI): install "
            "'xnat-monai[steps]' where you run 'xnat-monai models add'"
        )
    done = subprocess.run(
        [sys.executable, "-m", CHECKER, str(root)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [x for x in done.stderr.splitlines() if x.startswith("bundle check: ")]
        reason = lines[-1][len("bundle check: ") :] if lines else done.stderr.strip()[-500:]
        raise UserError(f"{root.name} did not pass the check: {reason}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _existing_files(client: XnatClient, project_path: str, name: str) -> list[str]:
    if not any(r.label == MODELS_RESOURCE for r in list_resources(client, project_path)):
        return []
    return [
        f.path
        for f in list_files(client, project_path, MODELS_RESOURCE)
        if f.path.startswith(f"{name}/")
    ]


def _bundle_root(source: Path, unzip_to: Path) -> Path:
    """The folder holding configs/metadata.json: `source`, its one sub-folder, or the same
    inside the zip `source`."""
    if not source.exists():
        raise UserError(f"{source} does not exist: give a bundle folder or a .zip of one")
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise UserError(f"{source} is neither a folder nor a zip file")
        _unzip(source, unzip_to)
        source = unzip_to
    if (source / METADATA).is_file():
        return source
    inner = sorted(p.parent.parent for p in source.glob(f"*/{METADATA}"))
    if len(inner) == 1:
        return inner[0]
    raise UserError(
        f"{source} holds {'several bundles' if inner else 'no bundle'}: a MONAI bundle is a "
        f"folder with {METADATA} (and configs/inference.json, models/model.pt)"
    )


def _unzip(archive: Path, destination: Path) -> None:
    """Every regular member inside `destination`; links, absolute paths and `..` refused."""
    destination.mkdir(parents=True)
    with zipfile.ZipFile(archive) as bundle:
        members = [m for m in bundle.infolist() if not m.is_dir()]
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            raise UserError(f"{archive} unpacks to more than {MAX_UNZIPPED_BYTES >> 30} GiB")
        for member in members:
            mode = member.external_attr >> 16
            relative = PurePosixPath(member.filename)
            target = (destination / relative).resolve()
            if (
                stat.S_ISLNK(mode)
                or relative.is_absolute()
                or ".." in relative.parts
                or not target.is_relative_to(destination.resolve())
            ):
                raise UserError(
                    f"{archive} member {member.filename!r} is a link or points outside the "
                    "bundle: refused"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
