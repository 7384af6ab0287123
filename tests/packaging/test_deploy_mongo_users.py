"""Each service that uses MongoDB gets its own database and its own user in what production
starts from (deploy/*.env.example), as deploy/README.md says (issue 12, deliver 1)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = {"projector": "PROJECTOR", "auth": "AUTH"}


def _settings(service: str) -> dict[str, str]:
    lines = (DEPLOY / f"{service}.env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def _mongo(service: str) -> tuple[str, str]:
    prefix = SERVICES[service]
    settings = _settings(service)
    return urlsplit(settings[f"{prefix}_MONGO_URL"]).username or "", settings[f"{prefix}_MONGO_DB"]


def test_each_service_has_its_own_user_and_database() -> None:
    users, databases = zip(*(_mongo(service) for service in SERVICES), strict=True)

    assert all(users), "a service connects to MongoDB without a user of its own"
    assert len(set(users)) == len(SERVICES)
    assert len(set(databases)) == len(SERVICES)


def test_boards_has_no_mongodb_access() -> None:
    assert not [name for name in _settings("boards") if "MONGO" in name]


@pytest.mark.parametrize("service", SERVICES)
def test_the_deploy_guide_grants_each_user_its_own_database_only(service: str) -> None:
    user, database = _mongo(service)
    guide = (DEPLOY / "README.md").read_text()

    grant = f'roles: [{{role: "readWrite", db: "{database}"}}]'
    assert f'user: "{user}"' in guide
    assert grant in guide
    assert guide.index(f'user: "{user}"') < guide.index(grant)
