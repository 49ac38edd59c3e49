"""The classification task's phantoms (`xnat_plugin/sandbox/seed/liver_lesion.py`): one liver
lesion of 8-25 mm, low contrast, inside the liver; classes balanced at every site."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest

from containers.common.class_labels import label_source, read_class_labels
from xnat_plugin.cli import main
from xnat_plugin.client import connect, paths
from xnat_plugin.client.transfer import download_resource
from xnat_plugin.sandbox.seed.liver_lesion import (
    ABSENT,
    CLASS_FIELD,
    CONTRAST_HU,
    DIAMETER_MM,
    LIVER,
    MARGIN_MM,
    PRESENT,
    add_liver_lesion,
    has_lesion,
    lesion_voxel,
)
from xnat_plugin.sandbox.seed.phantom import make_phantom
from xnat_plugin.sandbox.seed.seeding import PlannedSession, subject_seed
from xnat_plugin.sandbox.seed.sites import SITES, site_for_session


@pytest.mark.parametrize("site_count", range(1, len(SITES) + 1))
def test_classes_are_balanced_at_every_site(site_count: int):
    sessions = 4 * site_count
    per_site = Counter(
        (site_for_session(i, site_count).name, PRESENT if has_lesion(i, site_count) else ABSENT)
        for i in range(1, sessions + 1)
    )
    for site in SITES[:site_count]:
        assert per_site[(site.name, PRESENT)] == per_site[(site.name, ABSENT)] == 2


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_the_lesion_lies_inside_the_liver_and_is_darker_by_about_its_contrast(seed: int):
    plain = make_phantom(seed, SITES[seed % len(SITES)])
    with_lesion, lesion = add_liver_lesion(plain)
    assert DIAMETER_MM[0] <= lesion.diameter_mm <= DIAMETER_MM[1]
    assert CONTRAST_HU[0] <= lesion.contrast_hu <= CONTRAST_HU[1]
    assert np.array_equal(with_lesion.labels, plain.labels)  # the organs are unchanged
    changed = with_lesion.hu != plain.hu
    assert changed.any() and plain.labels[changed].tolist() == [LIVER] * int(changed.sum())
    z, y, x = lesion_voxel(with_lesion, lesion)
    assert plain.labels[z, y, x] == LIVER
    # Everything within the lesion's radius plus the margin is liver.
    grid = np.indices(plain.shape)
    spacing = plain.spacing_mm
    distance = np.sqrt(sum(((grid[a] - (z, y, x)[a]) * spacing[a]) ** 2 for a in range(3)))
    reach = distance <= lesion.diameter_mm / 2 + MARGIN_MM - max(spacing)
    assert (plain.labels[reach] == LIVER).all()
    core = distance <= lesion.diameter_mm / 2 - 1.0
    darker = plain.hu[core].astype(float) - with_lesion.hu[core].astype(float)
    assert abs(darker.mean() - lesion.contrast_hu) < 1.0


def test_the_lesion_is_not_found_by_a_threshold():
    """Low contrast: many liver voxels away from the lesion are darker than the lesion's mean."""
    phantom, lesion = add_liver_lesion(make_phantom(3, SITES[0]))
    z, y, x = lesion_voxel(phantom, lesion)
    grid = np.indices(phantom.shape)
    distance = np.sqrt(
        sum(((grid[a] - (z, y, x)[a]) * phantom.spacing_mm[a]) ** 2 for a in range(3))
    )
    inside = distance <= lesion.diameter_mm / 2 - 1.0
    elsewhere = (phantom.labels == LIVER) & (distance > lesion.diameter_mm)
    lesion_mean = phantom.hu[inside].mean()
    assert (phantom.hu[elsewhere] <= lesion_mean).mean() > 0.05


def test_the_same_seed_gives_the_same_lesion():
    first = add_liver_lesion(make_phantom(7, SITES[1]))
    second = add_liver_lesion(make_phantom(7, SITES[1]))
    assert first[1] == second[1] and np.array_equal(first[0].hu, second[0].hu)
    assert add_liver_lesion(make_phantom(8, SITES[1]))[1] != first[1]


def test_seed_task_classification_gives_balanced_sessions_with_the_class_as_a_field(
    sandbox: Any, tmp_path: Path
) -> None:
    """The class is a session field (`…/fields/field[name=diagnosis]/field`, XNAT's REST form)
    that the classification steps read back (`class_labels`); a lesion session's axial series
    is the phantom with its lesion."""
    code = main(
        [
            "sandbox", "seed", "--xnat", sandbox.url, "--project", "CLS", "--sessions", "4",
            "--sites", "2", "--seed", "5", "--task", "classification", "--no-reference",
            "--user", sandbox.user, "--password", sandbox.password,
        ]
    )  # fmt: skip
    assert code == 0
    with connect(sandbox.url, sandbox.user, sandbox.password) as client:
        labels = read_class_labels(client, "CLS", label_source(CLASS_FIELD, None))
        got = sorted((e.session.label, e.session.site, e.label) for e in labels.labelled)
        assert got == [
            ("SUBJ001_CT1", "SITE_A", PRESENT),
            ("SUBJ002_CT1", "SITE_B", PRESENT),
            ("SUBJ003_CT1", "SITE_A", ABSENT),
            ("SUBJ004_CT1", "SITE_B", ABSENT),
        ]
        labels.check_folds(2)
        for entry in labels.labelled[:1] + labels.labelled[2:3]:
            index = int(entry.session.label[4:7])
            planned = PlannedSession.of(
                index, 5, entry.session.site, task="classification", site_count=2
            )
            assert planned.fields == {CLASS_FIELD: entry.label}
            files = download_resource(
                client,
                paths.scan(entry.session.id, str(planned.axial.number)),
                "DICOM",
                tmp_path / entry.session.label,
                show_progress=False,
            )
            datasets = sorted(
                (pydicom.dcmread(f) for f in files), key=lambda d: float(d.ImagePositionPatient[2])
            )
            volume = np.stack(
                [
                    d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
                    for d in datasets
                ]
            )
            assert np.array_equal(volume, planned.phantom.hu)
            plain = make_phantom(subject_seed(5, index), entry.session.site)
            assert np.array_equal(volume, plain.hu) == (entry.label == ABSENT)
