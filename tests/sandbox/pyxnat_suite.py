"""pyxnat's own test modules, run unmodified against a sandbox.

pyxnat 1.6.4 ships its tests in the wheel (`pyxnat/tests/`). They expect a test XNAT named by
`.devxnat.cfg`, `.central.cfg` and `.xnat.cfg` in the working directory, holding the projects,
subjects and experiments its own CI server holds. `create_fixtures` makes those over REST (the
way that server was filled), `run_suite` writes the three files pointing at a sandbox and runs
the modules in a child pytest, and returns each test's outcome.

Tests that talk to www.nitrc.org are deselected: only loopback may be reached from here, and
every request that is not for 127.0.0.1 goes to a closed loopback port (HTTP(S)_PROXY), so a
test that tries fails instead of leaving the machine.

    python -m tests.sandbox.pyxnat_suite        # start a sandbox, fill it, run, print a summary
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyxnat
import requests

PYXNAT_TESTS = Path(pyxnat.__file__).parent / "tests"
CONFIG_FILES = (".devxnat.cfg", ".central.cfg", ".xnat.cfg")
# A closed port on loopback: requests for any other host go there and fail at once.
NOWHERE_PROXY = "http://127.0.0.1:9"

# Tests that read www.nitrc.org (`Interface('https://www.nitrc.org/ir', anonymous=True)`).
NEEDS_NITRC = {
    "array_test.py": "*",
    "downloadutils_test.py": "*",
    "experiments_test.py": "*",
    "graphdata_test.py": ("test_graphdata", "test_schemasinspector"),
    "inspector_test.py": "*",
    "interfaces_test.py": ("test_anonymous_access",),
    "manage_test.py": ("test_register_callback", "test_add_schema"),
    "project_manager_test.py": "*",
    "scans_test.py": "*",
    "xpath_test.py": "*",
}


def _modules() -> list[Path]:
    return sorted(
        path
        for path in PYXNAT_TESTS.glob("*.py")
        if path.name != "__init__.py" and NEEDS_NITRC.get(path.name) != "*"
    )


def _deselected(copies: Path) -> list[str]:
    """`--deselect` arguments for every test that needs www.nitrc.org."""
    return [
        arg
        for module, names in NEEDS_NITRC.items()
        if names != "*"
        for name in names
        for arg in ("--deselect", f"{copies.name}/{module}::{name}")
    ]


# pyxnat's repository keeps these beside the test modules; the wheel leaves them out. Their
# content is what the tests assert (resources_test test_08, test_10, test_17/18; the user test
# test_create_xml; jsonutil_test's table).
def _write_test_data(folder: Path) -> None:
    (folder / "hello_xnat.txt").write_text("Hello XNAT!\n")
    (folder / "hello_again.txt").write_text("Hello again!\n")
    with zipfile.ZipFile(folder / "hello_dir.zip", "w") as archive:
        archive.writestr("hello_dir/hello_xnat_dir.txt", "Hello XNAT dir!\n")
        archive.writestr("hello_dir/hello_dir2/hello_xnat_dir2.txt", "Hello XNAT dir 2!\n")
    (folder / "sess.xml").write_text(
        '<xnat:MRSession xmlns:xnat="http://nrg.wustl.edu/xnat" label="10001" modality="MR" '
        'project="nosetests"><xnat:date>2014-12-09</xnat:date>'
        "<xnat:acquisition_site>Centre Medic Diagnostic Alomar</xnat:acquisition_site>"
        "<xnat:fieldStrength>3.0</xnat:fieldStrength></xnat:MRSession>\n"
    )
    columns = [
        "subject_label",
        "projects",
        "subjectid",
        "psytool_audit_parentdata_audit1",
        "psytool_audit_parentdata_audit2",
        "psytool_audit_parentdata_audit9",
        "psytool_audit_parentdata_audit10",
    ]
    rows = [
        ["000005154", "IMAGEN", "5154", "2", "0", "0", "2"],
        ["000007200", "IMAGEN", "7200", "1", "1", "0", "0"],
    ]
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def _copy_tests(workdir: Path) -> Path:
    """pyxnat's test modules, unmodified, in `workdir/pyxnat_tests` beside their data files."""
    copies = workdir / "pyxnat_tests"
    copies.mkdir(exist_ok=True)
    for module in _modules():
        shutil.copyfile(module, copies / module.name)
    _write_test_data(copies)
    return copies


# ----------------------------------------------------------------------------- fixtures
@dataclass(frozen=True)
class Session:
    """An image session of the fixture server, with its scans (ID, type, frames)."""

    project: str
    subject_id: str
    subject_label: str
    session_id: str
    label: str
    xsi_type: str
    scans: tuple[tuple[str, str, int], ...] = ()


# pyxnat's CI server (its `.devxnat.cfg`): project pyxnat_tests with three subjects, five MR,
# one CT and one PET session; repr_test, resources_test, sessionmirror_test and
# test_resource_functions address them by these IDs.
DEV_SESSIONS = (
    Session(
        "pyxnat_tests",
        "BBRCDEV_S02627",
        "001",
        "BBRCDEV_E03106",
        "001_obscured",
        "xnat:mrSessionData",
        (("11", "SPGR", 175), ("12", "T2", 60), ("13", "FLAIR", 48), ("14", "DWI", 60)),
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02628", "002", "BBRCDEV_E03094", "002_MR1", "xnat:mrSessionData"
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02628", "002", "BBRCDEV_E03099", "002_MR2", "xnat:mrSessionData"
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02628", "002", "BBRCDEV_E03100", "002_CT1", "xnat:ctSessionData"
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02629", "003", "BBRCDEV_E03101", "003_MR1", "xnat:mrSessionData"
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02629", "003", "BBRCDEV_E03102", "003_MR2", "xnat:mrSessionData"
    ),
    Session(
        "pyxnat_tests", "BBRCDEV_S02629", "003", "BBRCDEV_E03103", "003_PET1", "xnat:petSessionData"
    ),
)
# What `.central.cfg` tests read: the schizophrenia project with an MR session, its assessor
# and an `anat` scan (search_test), OASIS3 (interfaces_test) and ixi with subjects.
CENTRAL_SESSIONS = (
    Session(
        "cs_schizbull08",
        "xnat_S02582",
        "sub01",
        "xnat_E02579",
        "sub01_MR1",
        "xnat:mrSessionData",
        (("anat", "anat", 176),),
    ),
    Session("ixi", "IXI_S00002", "IXI002", "IXI_E00002", "IXI002_MR", "xnat:mrSessionData"),
)
PROJECTS = {
    "pyxnat_tests": {
        "name": "pyxnat tests",
        "description": "pyxnat CI tests",
        "alias": "pyxnat",
        "accessibility": "private",
    },
    "pyxnat_tests2": {"name": "pyxnat tests 2"},
    "cs_schizbull08": {"name": "Schizophrenia Bulletin 2008"},
    "ixi": {"name": "IXI"},
    "OASIS3": {"name": "OASIS-3"},
}
ASSESSORS = (("xnat_E02579", "xnat_E02580", "sub01_MR1_QC"),)


def create_fixtures(url: str, user: str, password: str) -> list[str]:
    """Fill a fresh XNAT with what pyxnat's test servers hold, over REST only. Returns the
    requests it refused (none, from an XNAT that behaves as pyxnat's test server)."""
    refused: list[str] = []

    def _check(response: requests.Response, what: str) -> None:
        if not response.ok:
            refused.append(f"{what}: {response.status_code} {response.text[:300]}")

    http = requests.Session()
    http.auth = (user, password)
    data = url.rstrip("/") + "/data"
    # the docker XNAT of pyxnat's CI names its first admin account so (user tests read it)
    _check(
        http.put(
            f"{url.rstrip('/')}/xapi/users/{user}",
            json={"firstName": "Admin", "lastName": "Admin", "email": "fake@fake.fake"},
        ),
        f"names of user {user}",
    )
    for project, fields in PROJECTS.items():
        accessibility = fields.get("accessibility")
        params = {k: v for k, v in fields.items() if k != "accessibility"}
        _check(http.put(f"{data}/projects/{project}", params=params), f"project {project}")
        if accessibility:
            _check(
                http.put(f"{data}/projects/{project}/accessibility/{accessibility}"),
                f"accessibility of {project}",
            )
    for session in DEV_SESSIONS + CENTRAL_SESSIONS:
        subject = f"{data}/projects/{session.project}/subjects/{session.subject_label}"
        _check(
            http.put(subject, params={"ID": session.subject_id}), f"subject {session.subject_id}"
        )
        experiment = f"{subject}/experiments/{session.label}"
        _check(
            http.put(experiment, params={"xsiType": session.xsi_type, "ID": session.session_id}),
            f"experiment {session.session_id}",
        )
        scan_type = session.xsi_type.replace("SessionData", "ScanData")
        for scan_id, kind, frames in session.scans:
            _check(
                http.put(
                    f"{data}/experiments/{session.session_id}/scans/{scan_id}",
                    params={"xsiType": scan_type, "type": kind, "frames": str(frames)},
                ),
                f"scan {scan_id} of {session.session_id}",
            )
    _check(
        http.put(
            f"{data}/experiments/BBRCDEV_E03106/resources/obscure_algorithm_output/files/out.txt",
            data=b"obscure algorithm output\n",
        ),
        "resource obscure_algorithm_output",
    )
    for session_id, assessor_id, label in ASSESSORS:
        _check(
            http.put(
                f"{data}/experiments/{session_id}/assessors/{label}",
                params={"xsiType": "xnat:qcAssessmentData", "ID": assessor_id},
            ),
            f"assessor {assessor_id}",
        )
    return refused


# Why each test that fails here fails: a fixture pyxnat's own servers hold that no REST call
# can make, a plugin XNAT would need, a broken test, or a part of XNAT this sandbox does not
# have. test_pyxnat_suite.py holds the failures to exactly this list.
FIXTURE, PLUGIN, BROKEN, NOT_BUILT = "fixture", "plugin", "broken test", "not built"
EXPLAINED: dict[str, tuple[str, str]] = {
    "interfaces_test.py::test_version": (
        FIXTURE,
        "asserts the version of pyxnat's CI server (1.7.6); this one is XNAT 1.9",
    ),
    "repr_test.py::test_info_project": (
        FIXTURE,
        "asserts the creation time of the project on pyxnat's server (2024-01-22 10:09:22.086)",
    ),
    "repr_test.py::test_info_experiment": (
        FIXTURE,
        "asserts the creation time of the session on pyxnat's server (2024-01-22 10:25:48.637)",
    ),
    "repr_test.py::test_info_resource": (
        FIXTURE,
        "asserts the 2.06 GB of files the resource holds on pyxnat's server",
    ),
    "test_resource_functions.py::test_ashs_volumes": (
        FIXTURE,
        "reads the results of BBRC's ASHS pipeline in a resource of BBRCDEV_E03106",
    ),
    "prearchive_test.py::test_prearchive_status": (
        FIXTURE,
        "needs a session waiting in the prearchive of pyxnat's server; this XNAT archives "
        "uploads directly and has no prearchived sessions",
    ),
    "custom_variables_test.py::test_04_add_custom_variables": (
        NOT_BUILT,
        "needs the project's custom variable definitions (a `Subjects` datatype protocol, "
        "xnat:fieldDefinitionGroup), which this XNAT does not keep",
    ),
    "provenance_test.py::test_provenance": (
        NOT_BUILT,
        "xnat:provenance process steps are not stored or listed by this XNAT",
    ),
    "resources_test.py::test_provenance": (
        NOT_BUILT,
        "xnat:provenance process steps are not stored or listed by this XNAT",
    ),
    "attributes_test.py::test_06_list_project_attrs": (
        FIXTURE,
        "lists the xnat:projectData elements of XNAT 1.7.6's schema (pyxnat's CI server); "
        "XNAT 1.9's has `custom_fields` besides",
    ),
    "search_test.py::test_search": (
        BROKEN,
        "searches on `xnat:mrSessionData/tag`: `tag` is a field of xnat:abstractResource, not "
        "of xnat:mrSessionData or any type it extends, so XFT's path lookup "
        "(`GenericWrapperElement.getTableAndFieldGrandSQLForXMLPath`) throws "
        "FieldNotFoundException and the search fails (500); pyxnat itself xfails its search "
        "tests since 9db3b41",
    ),
    "search_test.py::test_get_search": (
        BROKEN,
        "runs the search saved with the `xnat:mrSessionData/tag` criterion (see test_search)",
    ),
    "sessionmirror_test.py::test_001_sessionmirror": (
        BROKEN,
        "imports `sessionmirror`, a script pyxnat's wheel does not ship",
    ),
    "sessionmirror_test.py::test_002_delete_experiment": (
        BROKEN,
        "deletes the copy test_001_sessionmirror makes",
    ),
    **{
        f"pipelines_test.py::{name}": (
            PLUGIN,
            "XNAT's pipeline engine (DicomToNifti and the pipeline REST paths) is a plugin "
            "XNAT 1.8+ does not include",
        )
        for name in (
            "test_pipeline_info",
            "test_pipeline_run",
            "test_pipeline_status",
            "test_pipelines_aliases",
            "test_pipelines_info",
        )
    },
}


# ----------------------------------------------------------------------------- running
@dataclass
class SuiteResult:
    """Each pyxnat test's outcome (`passed`, `failed`, `error`, `skipped`) and message."""

    outcomes: dict[str, str]
    messages: dict[str, str]

    def counts(self) -> Counter[str]:
        return Counter(self.outcomes.values())

    def passed(self) -> set[str]:
        return {name for name, outcome in self.outcomes.items() if outcome == "passed"}


def _test_name(case: ET.Element) -> str:
    """`resources_test.py::test_01_subject_create` (a module that failed to import: its name)."""
    module = Path(case.get("file") or "").name
    if not module:
        return f"{case.get('name', '').rsplit('.', 1)[-1]}.py"
    unittest_class = case.get("classname", "").rsplit(".", 1)[-1]
    if unittest_class[:1].isupper():
        return f"{module}::{unittest_class}::{case.get('name')}"
    return f"{module}::{case.get('name')}"


def parse_junit(report: Path) -> SuiteResult:
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = _test_name(case)
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
                messages[name] = (child.get("message") or child.text or "").strip()[:500]
                break
        outcomes[name] = outcome
    return SuiteResult(outcomes, messages)


def run_suite(
    url: str, user: str, password: str, workdir: Path, timeout: float = 900
) -> SuiteResult:
    """Run pyxnat's test modules (those that need no host but loopback) against `url`."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = json.dumps({"server": url, "user": user, "password": password})
    for name in CONFIG_FILES:
        (workdir / name).write_text(config)
    copies = _copy_tests(workdir)
    report = workdir / "pyxnat-junit.xml"
    env = {
        **os.environ,
        # Upper case only: pyxnat makes a lower-case `http_proxy` its session's proxy for every
        # request, loopback included, where requests honours NO_PROXY for these.
        "HTTP_PROXY": NOWHERE_PROXY,
        "HTTPS_PROXY": NOWHERE_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "HOME": str(workdir),  # test_save_config_home_dir writes under ~
    }
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
        env.pop(name, None)
    env.pop("PYXNAT_SKIP_NETWORK_TESTS", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={report}",
        f"--rootdir={workdir}",
        "--timeout=120",
        "--continue-on-collection-errors",
        *_deselected(copies),
        copies.name,
    ]
    subprocess.run(command, cwd=workdir, env=env, timeout=timeout, check=False, capture_output=True)
    return parse_junit(report)


def main() -> None:
    from xnat_plugin.sandbox.server import running_sandbox

    with tempfile.TemporaryDirectory() as tmp, running_sandbox(Path(tmp) / "xnat") as server:
        for problem in create_fixtures(server.url, server.user, server.password):
            print(f"fixture refused: {problem}")
        result = run_suite(server.url, server.user, server.password, Path(tmp) / "run")
    for name, outcome in sorted(result.outcomes.items()):
        message = result.messages.get(name, "").splitlines()[0:1]
        print(f"{outcome:8} {name} {message[0][:150] if message else ''}")
    print(dict(result.counts()), "total", len(result.outcomes))
    for name, (kind, reason) in sorted(EXPLAINED.items()):
        print(f"{kind:12} {name}: {reason}")


if __name__ == "__main__":
    main()
