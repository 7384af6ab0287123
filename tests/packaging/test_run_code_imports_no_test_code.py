"""Run code (`make run`, the services, the runtime, the contracts) depends on no test code: none
of it imports `cardstream_testing`. Test helpers may depend on run code, never the reverse."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_CODE = ["scripts", "services/*/src", "libs/runtime", "libs/devstack", "contracts/src"]
TEST_PACKAGE = "cardstream_testing"


def run_code_files() -> list[Path]:
    return sorted(
        path
        for pattern in RUN_CODE
        for folder in ROOT.glob(pattern)
        for path in folder.rglob("*.py")
    )


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def imports_of_test_code(source: str) -> list[tuple[int, str]]:
    return [
        (line, module)
        for line, module in imported_modules(ast.parse(source))
        if module == TEST_PACKAGE or module.startswith(f"{TEST_PACKAGE}.")
    ]


class TestRunCodeImportsNoTestCode:
    def test_the_walk_covers_every_kind_of_run_code(self) -> None:
        files = {str(path.relative_to(ROOT)) for path in run_code_files()}

        for expected in (
            "scripts/devstack.py",
            "services/boards/src/boards/app.py",
            "libs/runtime/src/cardstream_runtime/service.py",
            "libs/devstack/src/cardstream_devstack/servers.py",
            "contracts/src/contracts/wire.py",
        ):
            assert expected in files

    def test_no_run_code_imports_cardstream_testing(self) -> None:
        offenders = [
            f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in run_code_files()
            for line, module in imports_of_test_code(path.read_text())
        ]

        assert offenders == []

    def test_the_check_sees_every_way_of_importing_it(self) -> None:
        source = "\n".join(
            [
                "import cardstream_testing",
                "import os, cardstream_testing.servers as servers",
                "from cardstream_testing import RedisServer",
                "from cardstream_testing.gateway import Gateway",
                "def later():",
                "    from cardstream_testing.feeds import append",
                "from cardstream_testing_extra import nothing",
                "from cardstream_devstack import RedisServer",
            ]
        )

        assert [line for line, _ in imports_of_test_code(source)] == [1, 2, 3, 4, 6]
