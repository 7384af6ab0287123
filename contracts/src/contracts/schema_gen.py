"""JSON Schema files generated from the contracts, for clients not written in Python.

`python -m contracts.schema_gen` rewrites `contracts/schemas/`; with `--check` it writes nothing and
exits 1 naming every file that is stale, missing or no longer generated.

The schemas describe what the contracts accept (validation mode). A dump of any contract is such a
document (the golden tests hold every type to that), whereas serialization mode would lose
`EditCard`'s fields to its custom serializer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contracts.envelope import command_adapter, event_adapter
from contracts.wire import CommandResult, ErrorBody

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SUFFIX = ".schema.json"
# Meaningful only in a source checkout, where the package sits in contracts/src/contracts.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEFS = "#/$defs/"

Schema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Drift:
    name: str
    reason: Literal["missing", "stale", "unexpected"]

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def generate() -> dict[str, str]:
    """File name to file text, for every schema the contracts publish."""
    schemas: dict[str, Schema] = {
        "command": _titled(command_adapter.json_schema(), "Command"),
        "event": _titled(event_adapter.json_schema(), "Event"),
        "command-result": CommandResult.model_json_schema(),
        "error": ErrorBody.model_json_schema(),
    }
    return {name + SUFFIX: render(_published(schema)) for name, schema in schemas.items()}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check(directory: Path) -> list[Drift]:
    return _drift(directory, generate())


def write(directory: Path) -> list[Drift]:
    """Brings `directory` up to date; returns what it had to change."""
    expected = generate()
    drift = _drift(directory, expected)
    directory.mkdir(parents=True, exist_ok=True)
    for d in drift:
        path = directory / d.name
        if d.reason == "unexpected":
            path.unlink()
        else:
            path.write_text(expected[d.name], encoding="utf-8", newline="\n")
    return drift


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.schema_gen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.check:
        drift = check(args.dir)
        for d in drift:
            print(f"{args.dir / d.name}: {d.reason}", file=sys.stderr)
        if drift:
            print("regenerate with `make schemas`", file=sys.stderr)
        return 1 if drift else 0
    for d in write(args.dir):
        print(f"{args.dir / d.name}: {'removed' if d.reason == 'unexpected' else 'written'}")
    return 0


def _drift(directory: Path, expected: dict[str, str]) -> list[Drift]:
    drift = [d for name, text in sorted(expected.items()) if (d := _compare(directory, name, text))]
    drift += [Drift(name, "unexpected") for name in _present(directory) if name not in expected]
    return drift


def _compare(directory: Path, name: str, text: str) -> Drift | None:
    path = directory / name
    if not path.is_file():
        return Drift(name, "missing")
    return None if path.read_text(encoding="utf-8") == text else Drift(name, "stale")


def _present(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.glob("*" + SUFFIX))


def _titled(schema: Schema, title: str) -> Schema:
    return {**schema, "title": title}


def _published(schema: Schema) -> Schema:
    return {"$schema": DIALECT, **_defs_by_title(schema)}


def _defs_by_title(schema: Schema) -> Schema:
    """Keys `$defs` by each model's title: pydantic keys a generic model's definition by its type
    arguments (`CommandEnvelope_Literal__AddCard___AddCard_`), which code generators turn into
    class names."""
    defs: dict[str, Schema] = schema.get("$defs", {})
    renames = {
        key: title
        for key, definition in defs.items()
        if isinstance(title := definition.get("title"), str) and _NAME.match(title) and title != key
    }
    keys = [renames.get(key, key) for key in defs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"two definitions would share a name: {sorted(keys)}")
    refs = {_DEFS + old: _DEFS + new for old, new in renames.items()}
    renamed: Schema = _replace_refs(schema, refs)
    if defs:
        renamed["$defs"] = {renames.get(k, k): v for k, v in renamed["$defs"].items()}
    return renamed


def _replace_refs(node: Any, refs: dict[str, str]) -> Any:
    # Covers `$ref` and the discriminator's `mapping`, the two places a definition is named.
    if isinstance(node, dict):
        return {key: _replace_refs(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_refs(value, refs) for value in node]
    if isinstance(node, str):
        return refs.get(node, node)
    return node


if __name__ == "__main__":
    sys.exit(main())
