"""The fixed words of Container Service 3.7.3 command JSON: types, delimiters, reserved names."""

from __future__ import annotations

# Command types (`type` on a command).
COMMAND_TYPES = ("docker", "docker-setup", "docker-wrapup")
VISIBILITIES = ("public", "private", "protected")
# Command input types (`inputs[].type`).
COMMAND_INPUT_TYPES = ("string", "boolean", "number", "select-one", "select-many", "file")
SELECT_TYPES = ("select-one", "select-many")
MULTIPLE_DELIMITERS = ("quoted-space", "space", "comma", "flag")
# Wrapper input types (`xnat[].external-inputs[].type`, `derived-inputs[].type`); case-sensitive.
WRAPPER_INPUT_TYPES = (
    "string",
    "boolean",
    "number",
    "Directory",
    "File[]",
    "File",
    "Project",
    "ProjectAsset",
    "Subject",
    "SubjectAssessor",
    "Session",
    "Scan",
    "Assessor",
    "Resource",
    "Config",
    "file",
)
MOUNTABLE_WRAPPER_INPUT_TYPES = (
    "Project",
    "ProjectAsset",
    "SubjectAssessor",
    "Session",
    "Scan",
    "Assessor",
    "Resource",
    "File",
)
OUTPUT_HANDLER_TYPES = ("Resource", "Assessor", "Scan")
# Environment variables the container service sets itself; secrets may not target them.
RESERVED_ENVIRONMENT_VARIABLES = ("XNAT_HOST", "XNAT_USER", "XNAT_PASS")
