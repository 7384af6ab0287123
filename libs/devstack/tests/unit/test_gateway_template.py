"""Rendering the gateway's template with several instances of a service behind one upstream."""

from __future__ import annotations

from pathlib import Path

import pytest
from cardstream_devstack.gateway import GatewayConfigError, render_template


def _template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.conf.template"
    path.write_text(text)
    return path


def test_several_values_repeat_their_line_once_each(tmp_path: Path) -> None:
    template = _template(
        tmp_path,
        "upstream boards {\n    server ${CARDSTREAM_BOARDS};\n}\nlisten ${CARDSTREAM_LISTEN};\n",
    )
    text = render_template(
        {"CARDSTREAM_BOARDS": ("127.0.0.1:1", "127.0.0.1:2"), "CARDSTREAM_LISTEN": "80"}, template
    )
    assert text == (
        "upstream boards {\n    server 127.0.0.1:1;\n    server 127.0.0.1:2;\n}\nlisten 80;\n"
    )


def test_several_values_must_stand_alone_on_their_line(tmp_path: Path) -> None:
    template = _template(tmp_path, "server ${CARDSTREAM_A} ${CARDSTREAM_B};\n")
    with pytest.raises(GatewayConfigError, match="alone on its line"):
        render_template({"CARDSTREAM_A": ("a", "b"), "CARDSTREAM_B": "c"}, template)


@pytest.mark.parametrize("value", [(), ("127.0.0.1:1", ""), ("127.0.0.1:1", "x; include /etc")])
def test_refuses_an_empty_or_unsafe_one_among_several(
    tmp_path: Path, value: tuple[str, ...]
) -> None:
    template = _template(tmp_path, "server ${CARDSTREAM_BOARDS};\n")
    with pytest.raises(GatewayConfigError, match="not safe"):
        render_template({"CARDSTREAM_BOARDS": value}, template)
