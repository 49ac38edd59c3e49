"""Fixtures of the runner tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runner.attack_setup import Site


@pytest.fixture
def site(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The sandbox as a site to attack; records each alias token issued to a job."""
    from xnat_plugin.sandbox.container_service import execution

    made = Site(sandbox, tmp_path)
    issue = execution.issue_alias_token

    def recording(login: str, *args: Any, **kwargs: Any) -> tuple[str, str]:
        alias, secret = issue(login, *args, **kwargs)
        made.secrets.append(secret)
        return alias, secret

    monkeypatch.setattr(execution, "issue_alias_token", recording)
    yield made
