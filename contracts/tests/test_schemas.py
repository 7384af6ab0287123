"""The checked-in JSON Schemas are what the models generate, and the generator keeps them so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts import COMMAND_TYPES, EVENT_TYPES, schema_gen

GENERATED = schema_gen.generate()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


class TestCheckedInSchemas:
    def test_match_what_the_models_generate(self) -> None:
        drift = schema_gen.check(schema_gen.SCHEMA_DIR)

        assert not drift, f"{', '.join(map(str, drift))}: regenerate with `make schemas`"

    def test_cover_commands_events_results_and_errors(self) -> None:
        assert set(GENERATED) >= {
            "command.schema.json",
            "event.schema.json",
            "command-result.schema.json",
            "error.schema.json",
        }


class TestGeneratedSchemas:
    @pytest.mark.parametrize("name", sorted(GENERATED))
    def test_are_formatted_canonically(self, name: str) -> None:
        text = GENERATED[name]

        canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        assert text == canonical + "\n"

    @pytest.mark.parametrize("name", sorted(GENERATED))
    def test_name_their_dialect(self, name: str) -> None:
        assert json.loads(GENERATED[name])["$schema"] == schema_gen.DIALECT

    @pytest.mark.parametrize("name", sorted(GENERATED))
    def test_resolve_every_reference(self, name: str) -> None:
        schema = json.loads(GENERATED[name])
        defined = {f"#/$defs/{key}" for key in schema.get("$defs", {})}

        assert set(_refs(schema)) <= defined

    @pytest.mark.parametrize("name", sorted(GENERATED))
    def test_key_definitions_by_model_name(self, name: str) -> None:
        defs = json.loads(GENERATED[name]).get("$defs", {})

        assert [key for key in defs if not key.isidentifier()] == []
        assert [key for key, d in defs.items() if d.get("title", key) != key] == []

    @pytest.mark.parametrize(
        ("name", "types"),
        [("command.schema.json", COMMAND_TYPES), ("event.schema.json", EVENT_TYPES)],
    )
    def test_discriminate_every_type_by_name(self, name: str, types: tuple[type, ...]) -> None:
        schema = json.loads(GENERATED[name])

        assert schema["discriminator"]["propertyName"] == "type"
        assert set(schema["discriminator"]["mapping"]) == {t.__name__ for t in types}
        assert len(schema["oneOf"]) == len(types)

    def test_forbid_unknown_fields_in_every_object(self) -> None:
        for name, text in GENERATED.items():
            defs = json.loads(text).get("$defs", {})
            objects = {key: d for key, d in defs.items() if d.get("type") == "object"}
            assert all(d["additionalProperties"] is False for d in objects.values()), name


class TestCli:
    def test_check_fails_on_an_empty_directory_naming_each_missing_file(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert schema_gen.main(["--check", "--dir", str(tmp_path)]) == 1

        err = capsys.readouterr().err
        assert all(f"{tmp_path / name}: missing" in err for name in GENERATED)

    def test_writes_files_that_then_pass_the_check(self, tmp_path: Path) -> None:
        assert schema_gen.main(["--dir", str(tmp_path)]) == 0

        assert schema_gen.main(["--check", "--dir", str(tmp_path)]) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(GENERATED)

    def test_check_reports_an_edited_file_as_stale(self, tmp_path: Path) -> None:
        schema_gen.write(tmp_path)
        path = tmp_path / "event.schema.json"
        path.write_text(path.read_text().replace('"CardMoved"', '"CardShifted"'))

        assert [str(d) for d in schema_gen.check(tmp_path)] == ["event.schema.json: stale"]

    def test_check_reports_a_schema_no_longer_generated(self, tmp_path: Path) -> None:
        schema_gen.write(tmp_path)
        (tmp_path / "card.schema.json").write_text("{}\n")

        assert [str(d) for d in schema_gen.check(tmp_path)] == ["card.schema.json: unexpected"]

    def test_write_removes_a_schema_no_longer_generated_and_leaves_other_files(
        self, tmp_path: Path
    ) -> None:
        (tmp_path / "card.schema.json").write_text("{}\n")
        (tmp_path / "README.md").write_text("hand written\n")

        schema_gen.write(tmp_path)

        assert not (tmp_path / "card.schema.json").exists()
        assert (tmp_path / "README.md").read_text() == "hand written\n"

    def test_write_leaves_up_to_date_files_untouched(self, tmp_path: Path) -> None:
        schema_gen.write(tmp_path)

        assert schema_gen.write(tmp_path) == []
