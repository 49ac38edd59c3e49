"""Which events a subscription answers, and how many jobs the worker pool runs at once."""

from __future__ import annotations

import threading
import time

import pytest

from xnat_plugin.sandbox.container_service.subscriptions import (
    SubscriptionInvalid,
    subscription_matches,
    wrapper_id_of,
)
from xnat_plugin.sandbox.container_service.worker_pool import WorkerPool
from xnat_plugin.sandbox.events import session_created


def _subscription(**event_filter: object) -> dict[str, object]:
    return {
        "active": True,
        "event-filter": {
            "event-type": "org.nrg.xnat.eventservice.events.SessionEvent",
            "project-ids": ["LIVER"],
            "status": "CREATED",
            **event_filter,
        },
    }


def test_a_created_session_in_the_project_matches():
    event = session_created("LIVER", "XNAT_E00001", "xnat:ctSessionData")
    assert subscription_matches(_subscription(), event)


def test_a_session_in_another_project_does_not_match():
    event = session_created("OTHER", "XNAT_E00001", "xnat:ctSessionData")
    assert not subscription_matches(_subscription(), event)


def test_an_inactive_subscription_never_matches():
    event = session_created("LIVER", "XNAT_E00001", "xnat:ctSessionData")
    assert not subscription_matches({**_subscription(), "active": False}, event)


@pytest.mark.parametrize(
    ("payload_filter", "expected"),
    [
        ("@.xsiType == 'xnat:ctSessionData'", True),
        ("@.xsiType == 'xnat:mrSessionData'", False),
        ("@.xsiType =~ /xnat:(ct|mr)SessionData/", True),
    ],
)
def test_a_payload_filter_narrows_the_sessions(payload_filter: str, expected: bool):
    event = session_created("LIVER", "XNAT_E00001", "xnat:ctSessionData")
    assert (
        subscription_matches(_subscription(**{"payload-filter": payload_filter}), event) is expected
    )


def test_an_action_key_must_name_the_command_action_provider_and_a_wrapper_id():
    assert wrapper_id_of("org.nrg.containers.services.CommandActionProvider:12") == 12
    with pytest.raises(SubscriptionInvalid, match="Could not load Action Provider for key"):
        wrapper_id_of("org.example.Other:12")


def test_the_worker_pool_never_runs_more_jobs_at_once_than_its_size():
    pool = WorkerPool(size=2)
    lock = threading.Lock()
    running = {"now": 0, "most": 0}
    done = threading.Semaphore(0)

    def job() -> None:
        with lock:
            running["now"] += 1
            running["most"] = max(running["most"], running["now"])
        time.sleep(0.05)
        with lock:
            running["now"] -= 1
        done.release()

    for _ in range(8):
        pool.submit(job)
    for _ in range(8):
        assert done.acquire(timeout=10)
    pool.close()
    assert running["most"] == 2
