"""Sessions get processed without anyone launching (event subscriptions), and a bulk launch
over a whole project completes every session."""

from __future__ import annotations

from pathlib import Path

from tests.container_service.sandbox_data import (
    TINY_WRAPPER,
    add_ct_session,
    installed_admin,
    make_project,
    wait_until,
)
from xnat_plugin.admin import bulk_launch, list_containers, subscribe_on_session_created, wait_for


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
    record = xapi.get_json(f"/xapi/containers/{done.id}", what="read")
    xapi.close()
    assert len(containers) == 1
    assert done.status == "Complete"
    assert done.target.endswith(f"/experiments/{session_id}")
    assert record["subscription-id"] == info.id


def test_a_bulk_launch_over_twenty_sessions_completes_all_twenty(sandbox, tmp_path: Path):
    make_project(sandbox, "LIVER")
    session_ids = {add_ct_session(sandbox, "LIVER", i) for i in range(1, 21)}
    xapi = installed_admin(sandbox, tmp_path, ["LIVER"])
    bulk = bulk_launch(xapi, "LIVER", TINY_WRAPPER)
    assert bulk.failures == []
    assert {item.target for item in bulk.launched} == {f"/experiments/{s}" for s in session_ids}
    finished = wait_for(
        xapi,
        [str(item.container_id) for item in bulk.launched],
        timeout=600,
        show_progress=False,
    )
    xapi.close()
    assert [c.status for c in finished] == ["Complete"] * 20
