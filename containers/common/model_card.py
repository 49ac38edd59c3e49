"""A model card: what a trained model is, what it saw, what it cost and what it is for.

Built from the bundle's own metadata (`configs/metadata.json`: the MONAI fields and our spec's
`training` record), so the card in the bundle (`docs/README.md`, the model zoo's place for it)
and the card on the project report say the same thing. A field the bundle does not record reads
"not recorded", never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOT_RECORDED = "not recorded"


def _count(rows: list[Mapping[str, Any]], key: str) -> list[str]:
    return sorted({str(r[key]) for r in rows if r.get(key)})


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _parameters(count: Any) -> str:
    if not isinstance(count, int | float) or count <= 0:
        return ""
    return f"{count / 1e6:.2f} M parameters" if count >= 1e5 else f"{int(count):,} parameters"


def card_fields(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, text) pairs in the order a reader wants them."""
    spec = dict(metadata.get("xnat_monai", {}))
    training = dict(spec.get("training", {}))
    provenance = dict(training.get("provenance", {}))
    data = list(training.get("data", []))
    split = dict(training.get("split", {}))
    labels = dict(spec.get("labels", {}))
    network = dict(spec.get("network", {}))
    loss = dict(spec.get("loss", {}))
    patch = list(spec.get("patch_size", []))
    overlap = dict(spec.get("inferer", {})).get("overlap")
    settings = dict(training.get("settings", {}))
    folds = list(training.get("folds", []))

    def group_size(role: str) -> str:
        group = split.get(role, {})
        return f"{len(group.get('sessions', []))} {role}" if group else ""

    sessions = ", ".join(s for s in (group_size("training"), group_size("validation")) if s)
    sites = _count(data, "site")
    references = _count(data, "reference")
    pattern = training.get("reference_pattern", "")
    if folds:
        per_label: dict[str, list[float]] = {}
        for fold in folds:
            for label, value in fold.get("dice_per_label", {}).items():
                per_label.setdefault(label, []).append(float(value))
        mean = sum(float(f.get("best_dice", 0.0)) for f in folds) / len(folds)
        dice = (
            f"{mean:.3f} (mean over {len(folds)} fold(s); "
            + ", ".join(f"{label} {sum(v) / len(v):.3f}" for label, v in per_label.items())
            + ")"
        )
    else:
        dice = NOT_RECORDED
    epochs = settings.get("epochs")
    epochs_run = training.get("epochs_run")
    epochs_text = (
        f"{epochs_run} of {epochs} run" if epochs_run and epochs else str(epochs or NOT_RECORDED)
    )
    energy = provenance.get("energy") or {}
    image = provenance.get("image") or {}
    command = provenance.get("command_line") or []
    fields = [
        (
            "model",
            f"{metadata.get('name', spec.get('model_name', '?'))} {metadata.get('version', '')}".strip(),
        ),
        ("task", str(metadata.get("task", NOT_RECORDED))),
        (
            "labels",
            ", ".join(f"{name} = {value}" for name, value in labels.items()) or NOT_RECORDED,
        ),
        (
            "network",
            ", ".join(
                t for t in (network.get("name", ""), _parameters(training.get("parameters"))) if t
            )
            or NOT_RECORDED,
        ),
        ("loss", str(loss.get("name") or NOT_RECORDED)),
        (
            "patch",
            " × ".join(str(p) for p in patch)
            + " voxels"
            + (f", sliding-window overlap {overlap}" if overlap is not None else "")
            if patch
            else NOT_RECORDED,
        ),
        (
            "training data",
            f"project {training.get('project', '?')}: {len(data)} sessions"
            + (f" ({sessions})" if sessions else "")
            + f" of {len(_count(data, 'subject'))} subjects"
            if data
            else NOT_RECORDED,
        ),
        ("sites", ", ".join(sites) or NOT_RECORDED),
        (
            "label sources",
            (f"{len(references)} reference segmentation assessors" if references else NOT_RECORDED)
            + (f" matching {pattern}" if pattern else ""),
        ),
        ("epochs", epochs_text),
        (
            "training time",
            _duration(float(provenance["wall_seconds"])) + f" on {provenance.get('device', '?')}"
            if provenance.get("wall_seconds")
            else NOT_RECORDED,
        ),
        ("validation Dice", dice),
        (
            "training energy",
            f"{float(energy['kwh']):.4f} kWh ({energy.get('source', '?')})"
            if energy.get("kwh") is not None
            else NOT_RECORDED,
        ),
        ("command line", " ".join(str(c) for c in command) or NOT_RECORDED),
        (
            "image",
            (
                f"{image.get('reference')}"
                + (f", source {image['source_commit']}" if image.get("source_commit") else "")
                + (f"; digest: {image['digest']}" if image.get("digest") else "")
            )
            if image.get("reference")
            else NOT_RECORDED,
        ),
        ("intended use", intended_use(metadata)),
    ]
    return fields


def intended_use(metadata: Mapping[str, Any]) -> str:
    spec = dict(metadata.get("xnat_monai", {}))
    labels = ", ".join(spec.get("labels", {})) or "its labels"
    modality = spec.get("modality", "CT")
    return (
        f"research: segmenting {labels} on {modality} scans like those it was trained on (same "
        "kind of scanner, protocol and population). Not a medical device and not for "
        "diagnosis or treatment; check it on your own held-out sessions before relying on it."
    )


def card_markdown(metadata: Mapping[str, Any]) -> str:
    """`docs/README.md` of the bundle."""
    name = metadata.get("name", "model")
    lines = [f"# Model card: {name}", "", "| | |", "|---|---|"]
    for key, text in card_fields(metadata):
        lines.append(f"| {key} | {text.replace('|', '/')} |")
    lines += [
        "",
        "Written by `xnat-monai train` from `configs/metadata.json`; the sessions the model was "
        "trained and validated on are listed under `xnat_monai.training.split` there.",
        "",
    ]
    return "\n".join(lines)
