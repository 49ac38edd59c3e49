"""What the demo runs, in one place: sizes, training settings and the wrappers it launches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xnat_plugin.commands.scan_rule import ScanRule
from xnat_plugin.sandbox.seed.clinical_series import AXIAL_DESCRIPTION_PATTERN

PROJECT = "DEMO"
MODEL_NAME = "abdomen-ct"
# Half the seeded sessions hold a localizer and a thin and a thick reconstruction beside the
# axial series: the project's scan rule says which series infer segments and train learns from.
SCAN_RULE = ScanRule(description=AXIAL_DESCRIPTION_PATTERN)

# The demo runs on the CPU: it installs and launches the `-cpu` commands.
TRAIN_WRAPPER = "monai-train-project-cpu"
INFER_WRAPPER = "monai-segment-session-cpu"
EVALUATE_SESSION_WRAPPER = "monai-evaluate-session-cpu"
# Rooted at an AI segmentation: what the event service launches on each new one.
EVALUATE_SEGMENTATION_WRAPPER = "monai-evaluate-ai-segmentation-cpu"
EVALUATE_PROJECT_WRAPPER = "monai-evaluate-project-cpu"

# `demo --task classification`: a project of its own, the classifier's three wrappers.
CLASSIFY_PROJECT = "DEMO_CLS"
CLASSIFIER_NAME = "liver-lesion"
CLASSIFY_TRAIN_WRAPPER = "monai-classify-train-project-cpu"
CLASSIFY_INFER_WRAPPER = "monai-classify-session-cpu"
CLASSIFY_EVALUATE_WRAPPER = "monai-classify-evaluate-project-cpu"
# The project resource that holds the demo's class lists: training reads one, the report the
# other, so the report is about sessions the classifier never saw.
LABELS_RESOURCE = "LABELS"
TRAINING_CSV, HELD_OUT_CSV = "training.csv", "held_out.csv"


@dataclass(frozen=True)
class DemoSettings:
    """One demo run. `quick` trades model quality for a run of about two minutes."""

    workdir: Path
    sessions: int = 12
    sites: int = 2
    seed: int = 0
    quick: bool = False
    workers: int = 2
    automation: bool = True

    @property
    def xnat_dir(self) -> Path:
        return self.workdir / "xnat"

    @property
    def held_out(self) -> int:
        """Sessions the model never sees (a quarter, at least one): the test set its report
        leads with. They are the last ones seeded; training reads only the others' references."""
        return max(1, round(self.sessions / 4))

    @property
    def reference_pattern(self) -> str:
        """Training references: the manual SEGs of the sessions not held out, by label (an
        alternation, since XNAT refuses `(` in input values)."""
        from xnat_plugin.sandbox.seed.seeding import session_label_for

        used = range(1, self.sessions - self.held_out + 1)
        return "|".join(f"{session_label_for(i)}_.*manual.*" for i in used)

    @property
    def classify_train_inputs(self) -> dict[str, str]:
        """The classifier's training sized for two CPU cores: ResNet18 on 64 x 64 x 32 voxels of
        4.5 x 4.5 x 6 mm (the liver and its lesion inside), one validation split, classes from
        the training list (the held-out sessions are not in it)."""
        return {
            "model-name": CLASSIFIER_NAME,
            "network": "ResNet18",
            "label-field": "",
            "label-csv": f"{LABELS_RESOURCE}/{TRAINING_CSV}",
            "epochs": "3" if self.quick else "20",
            "folds": "1",
            "roi-size": "64,64,32",
            "spacing": "4.5,4.5,6",
            "seed": str(self.seed),
        }

    @property
    def train_inputs(self) -> dict[str, str]:
        """Training inputs sized for two CPU cores (the commands' defaults are GPU-sized): a
        small UNet, one validation split, the held-out sessions left out."""
        return {
            "model-name": MODEL_NAME,
            "network": "UNet",
            "epochs": "12" if self.quick else "30",
            "folds": "1",
            "patch-size": "96,96,32",
            "learning-rate": "0.002",
            "seed": str(self.seed),
            "reference-pattern": self.reference_pattern,
        }
