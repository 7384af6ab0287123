"""Every setting of every service is in the table its operators read, under the environment
variable they set: a setting added without a row there fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth.devprovider.settings import DevProviderSettings
from auth.settings import AuthSettings
from boards.settings import BoardsSettings
from projector.settings import ProjectorSettings
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTED = [
    (AuthSettings, "services/auth/README.md"),
    (BoardsSettings, "services/boards/README.md"),
    (ProjectorSettings, "services/projector/README.md"),
    (DevProviderSettings, "docs/dev-identity-provider.md"),
]


@pytest.mark.parametrize(("settings", "page"), DOCUMENTED, ids=lambda value: str(value))
def test_every_setting_has_a_row(settings: type[BaseSettings], page: str) -> None:
    prefix = settings.model_config.get("env_prefix", "")
    rows = [line for line in (ROOT / page).read_text().splitlines() if line.startswith("| `")]
    variables = [f"{prefix}{name}".upper() for name in settings.model_fields]

    assert [v for v in variables if not any(f"`{v}`" in row for row in rows)] == []
