"""Who may run a bundle's code (containers.common.bundle_trust), on bundles written here.

A bundle that would execute code is refused before any of it runs, with one line that says how
to approve it; a trusted one runs; declarative ones run without approval."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from containers.common.bundle_trust import (
    TRUST_ENV,
    decide,
    declarative_view,
    trusted_checksums,
    without_writers,
)
from containers.infer.__main__ import main
from tests.imaging.dicom_factory import SeriesGeometry, phantom_volume, write_ct_series
from tests.monai_bundles import tiny_bundle, tiny_inference_config
from xnat_plugin.errors import UserError
from xnat_plugin.models.layout import code_checksum

MARKER_SCRIPT = '''
from pathlib import Path


class TouchMarker:
    """A transform that proves it ran by writing a file."""

    def __init__(self, path):
        Path(path).write_text("ran")

    def __call__(self, data):
        return data
'''


@pytest.fixture(autouse=True)
def forget_bundle_scripts(monkeypatch):
    """Trusted runs put the bundle's folder on sys.path and import `scripts.*`: undone after."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setattr(sys, "dont_write_bytecode", sys.dont_write_bytecode)
    yield
    for name in [m for m in sys.modules if m == "scripts" or m.startswith("scripts.")]:
        del sys.modules[name]


@pytest.fixture
def series_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    write_ct_series(folder, phantom_volume((24, 24, 12)), SeriesGeometry(spacing=(2.0, 2.0, 2.0)))
    return folder


def _infer(series_dir: Path, bundle: Path, output: Path) -> int:
    return main(["--input", str(series_dir), "--model", str(bundle), "--output", str(output)])


def _with_expression_marker(marker: Path) -> dict:
    """Preprocessing whose extra step `eval`s Python that writes `marker`."""
    config = tiny_inference_config(3)
    config["marker"] = f"$open({str(marker)!r}, 'w').write('ran')"
    config["preprocessing"]["transforms"].insert(
        0, {"_target_": "Identityd", "keys": "@image_key", "_requires_": "@marker"}
    )
    return config


def _with_script_marker(marker: Path) -> dict:
    """Preprocessing with a transform imported from the bundle's scripts/."""
    config = tiny_inference_config(3)
    config["preprocessing"]["transforms"].insert(
        0, {"_target_": "scripts.marker.TouchMarker", "path": str(marker)}
    )
    return config


@pytest.mark.parametrize("kind", ["expression", "script"])
def test_untrusted_bundle_with_code_is_refused_before_any_of_it_runs(
    tmp_path: Path, series_dir: Path, kind: str, capsys, monkeypatch
) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "no-trust-dir"))
    marker = tmp_path / "marker.txt"
    config = (
        _with_expression_marker(marker) if kind == "expression" else _with_script_marker(marker)
    )
    bundle = tiny_bundle(
        tmp_path / "models", config=config, scripts={"marker.py": MARKER_SCRIPT}, seed=1
    )
    marker.unlink(missing_ok=True)  # building test weights resolves the network only

    assert _infer(series_dir, bundle, tmp_path / "out") == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("infer: ")]
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert len(lines) == 1
    error = lines[0]
    assert "runs its own code" in error and TRUST_ENV in error
    assert code_checksum(bundle) in error


@pytest.mark.parametrize("kind", ["expression", "script"])
def test_trusted_bundle_with_code_runs_it(
    tmp_path: Path, series_dir: Path, kind: str, monkeypatch
) -> None:
    marker = tmp_path / "marker.txt"
    config = (
        _with_expression_marker(marker) if kind == "expression" else _with_script_marker(marker)
    )
    bundle = tiny_bundle(
        tmp_path / "models", config=config, scripts={"marker.py": MARKER_SCRIPT}, seed=1
    )
    marker.unlink(missing_ok=True)
    monkeypatch.setenv(TRUST_ENV, f"0000,{code_checksum(bundle)}")

    assert _infer(series_dir, bundle, tmp_path / "out") == 0
    assert marker.read_text() == "ran"
    report = json.loads((tmp_path / "out" / "REPORT" / "report.json").read_text())
    assert report["pipeline"] == "bundle"
    assert "trusted by XNAT_MONAI_TRUSTED_BUNDLES" in report["provenance"]["model"]["trust"]
    assert not list(bundle.rglob("__pycache__"))  # the approved code stays as approved


def test_trust_list_in_the_images_folder_counts_comments_and_case_aside(tmp_path: Path) -> None:
    checksum = "AB" * 32
    (tmp_path / "site.txt").write_text(f"# approved 2026-01-01\n{checksum}  # spleen\n")
    found = trusted_checksums({}, tmp_path)
    assert found == {checksum.lower(): str(tmp_path / "site.txt")}
    assert trusted_checksums({TRUST_ENV: "not-a-checksum"}, tmp_path / "none") == {}


def test_code_checksum_covers_configs_and_scripts_but_not_weights(tmp_path: Path) -> None:
    bundle = tiny_bundle(tmp_path / "models", scripts={"helper.py": "X = 1\n"})
    before = code_checksum(bundle)
    (bundle / "models" / "model.pt").write_bytes(b"other weights")
    assert code_checksum(bundle) == before
    (bundle / "scripts" / "helper.py").write_text("X = 2\n")
    assert code_checksum(bundle) != before


def test_declarative_bundle_needs_no_approval_and_writers_are_left_out() -> None:
    config = tiny_inference_config(3)
    # The writer carries an expression; the step never builds it.
    assert declarative_view(config).problems != []
    view = declarative_view(without_writers(config))
    assert view.problems == []
    # Only what the pipeline reaches is handed to MONAI: no imports, no "run", no device.
    assert sorted(view.config) == [
        "image_key", "inferer", "network_def", "postprocessing", "preprocessing"
    ]  # fmt: skip
    assert decide(Path("unused"), without_writers(config), where="x").runs_code is False


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"_target_": "os.system", "command": "touch /tmp/x"}, "not a declarative MONAI class"),
        ({"_target_": "Lambdad", "keys": "image", "func": "$lambda x: x"}, "expression"),
        ({"_target_": "LoadImaged", "keys": "image", "reader": "evil.Reader"}, "imported by"),
        ({"_target_": "Identityd", "keys": "image", "_mode_": "debug"}, "_mode_"),
        ({"_target_": "DenseNet121", "spatial_dims": 3, "pretrained": True}, "fetches weights"),
        ("%/etc/other.json#net", "macro"),
        ("$__import__('os').system('id')", "expression"),
    ],
)
def test_anything_that_could_execute_is_named(item: object, why: str) -> None:
    config = tiny_inference_config(3)
    config["preprocessing"]["transforms"].append(item)
    problems = declarative_view(without_writers(config)).problems
    assert problems and any(why in p for p in problems), problems


def test_dtype_and_key_constants_and_references_are_data() -> None:
    config = tiny_inference_config(3)
    config["keys"] = "$monai.utils.CommonKeys.IMAGE"
    config["preprocessing"]["transforms"].append(
        {"_target_": "CastToTyped", "keys": "$@keys", "dtype": "$numpy.float32"}
    )
    view = declarative_view(without_writers(config))
    assert view.problems == []
    assert view.config["preprocessing"]["transforms"][-1]["keys"] == "@keys"


def test_refusal_names_the_bundle_and_where_without_running(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(TRUST_ENV, raising=False)
    monkeypatch.setenv("XNAT_MONAI_TRUST_DIR", str(tmp_path / "none"))
    (tmp_path / "b" / "configs").mkdir(parents=True)
    config = tiny_inference_config(3)
    config["inferer"] = {"_target_": "evil.Inferer"}
    with pytest.raises(UserError, match=r"bundle b runs its own code \(cfg inferer: _target_"):
        decide(tmp_path / "b", without_writers(config), where="cfg")
