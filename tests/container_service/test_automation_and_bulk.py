"""Sessions get processed without anyone launching: a `SessionEvent` subscription launches its
wrapper on the new session's archive URI (`CommandActionProvider.processEvent`,
`UriParserUtils.getArchiveUri`), in the subscription's project only."""

from __future__ import annotations

from pathlib import Path

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    wait_until,
)
from xnat_plugin.admin import list_containers, subscribe_on_session_created, wait_for


def test_a_session_created_in_a_subscribed_project_is_processed_without_a_launch(
    sandbox, tmp_path: Path
):
    make_project(sandbox, "LIVER")
    make_project(sandbox, "OTHER")
    xapi = installed_admin(sandbox, tmp_path, ["LIVER", "OTHER"])
    info = subscribe_on_session_created(xapi, "LIVER", TINY_WRAPPER)
    again = subscribe_on_session_created(xapi, "LIVER", TINY_WRAPPER)
    assert info.created and not again.created and again.id == info.id

    session_id = add_ct_session(sandbox, "LIVER", 7)
    add_ct_session(sandbox, "OTHER", 8)
    containers = wait_until(lambda: list_containers(xapi), timeout=30)
    [done] = wait_for(xapi, [c.id for c in containers], timeout=120, show_progress=False)
    xapi.close()
    assert len(containers) == 1
    assert done.status == "Complete"
    assert done.target == f"/archive/experiments/{session_id}"
