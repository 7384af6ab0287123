"""What production sets for each service is what its deploy/<service>.env.example lists: those are
the settings that must be set (deploy/README.md). The settings classes take `extra="ignore"`, so a
name a service does not read, a typo among them, would be ignored without a word: every listed
name must be one the service reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth.settings import AuthSettings
from boards.settings import BoardsSettings
from projector.settings import ProjectorSettings
from pydantic_settings import BaseSettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "boards": BoardsSettings,
    "projector": ProjectorSettings,
}


def read_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (pydantic-settings matches them in any
    case; upper case is how every artifact writes them)."""
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


def env_example(service: str) -> dict[str, str]:
    lines = (DEPLOY / f"{service}.env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


@pytest.mark.parametrize("service", SETTINGS)
def test_every_name_production_sets_is_a_setting_of_its_service(service: str) -> None:
    assert set(env_example(service)) - read_names(SETTINGS[service]) == set()
