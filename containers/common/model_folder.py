"""A model's folder inside a project's MONAI_MODELS, from a name a user typed.

The model name arrives as a launch input (`model-name`), so it is hostile until checked: it is
checked once, with XNAT's rule for labels (letters, digits, `_`, `-`; the rule the model's
folder name must meet to be a resource path in XNAT at all), and the folder is then looked up
directly inside the models folder, or refused. `../../../OTHER/resources/MONAI_MODELS/x`, an
absolute path, or a link leading out of MONAI_MODELS never names a model.
"""

from __future__ import annotations

from pathlib import Path

from xnat_plugin.errors import UserError
from xnat_plugin.sandbox.safe_paths import XNAT_ID_PATTERN


def check_model_name(name: str) -> str:
    """`name` if it is a valid model name (XNAT's label rule), else a UserError."""
    if XNAT_ID_PATTERN.fullmatch(name or ""):
        return name
    raise UserError(
        f"model name {name!r} is not valid: use only letters, digits, '_' and '-' (XNAT's rule "
        "for labels), the name of a model folder in the project's MONAI_MODELS"
    )


def model_folder(models: Path, name: str) -> Path:
    """The folder of model `name` directly inside `models` (a project's MONAI_MODELS)."""
    folder = models / check_model_name(name)
    root = models.resolve()
    if not folder.is_dir():
        present = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
        raise UserError(
            f"no model {name!r} in {models} (models there: {', '.join(present) or 'none'}); "
            "train one or upload one to the project's MONAI_MODELS"
        )
    if folder.resolve().parent != root:
        raise UserError(f"model {name!r} in {models} is a link out of the models folder; refused")
    return folder
