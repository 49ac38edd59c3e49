"""Parsing XNAT's nested REST paths."""

from __future__ import annotations

import pytest

from xnat_plugin.sandbox.archive import data_segments
from xnat_plugin.sandbox.data_path import BadPath, DataPath, parse_data_path


def test_a_scan_file_path_names_every_level() -> None:
    path = parse_data_path(
        data_segments("projects/P/subjects/S/experiments/E/scans/1/resources/DICOM/files/a/b.dcm")
    )
    assert path == DataPath(
        project="P", subject="S", experiment="E", scan="1", resource="DICOM", file_path="a/b.dcm"
    )
    assert path.level == "resource"


def test_pyxnat_out_resources_of_an_assessor_are_its_resources() -> None:
    path = parse_data_path(data_segments("experiments/E/assessors/A/out/resources/SEG/files"))
    assert (path.experiment, path.assessor, path.resource, path.collection) == (
        "E",
        "A",
        "SEG",
        "files",
    )
    top = parse_data_path(data_segments("experiments/A/out/resources/SEG"))
    assert (top.experiment, top.resource) == ("A", "SEG")


def test_a_path_ending_at_a_collection_names_it() -> None:
    assert parse_data_path(["projects", "P", "subjects"]).collection == "subjects"
    assert parse_data_path(["projects"]).collection == "projects"


@pytest.mark.parametrize("rest", ["../x", "a/../../x", "./x", "", "a//b"])
def test_file_names_leaving_the_resource_are_bad_requests(rest: str) -> None:
    segments = ["projects", "P", "resources", "R", "files", *rest.split("/")]
    with pytest.raises(BadPath) as raised:
        parse_data_path(segments)
    assert raised.value.status == 400


def test_unknown_path_elements_are_not_found() -> None:
    with pytest.raises(BadPath) as raised:
        parse_data_path(["projects", "P", "widgets", "w"])
    assert raised.value.status == 404
