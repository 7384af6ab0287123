"""scripts/install.sh and `ferretdb_build_path` name the FerretDB build from the same files, so the
harness runs the binary the installer built with the patches of this checkout, and no other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cardstream_devstack.processes import ServerStartError
from cardstream_devstack.servers import FERRETDB_SOURCE, ferretdb_binary, ferretdb_build_path

ROOT = Path(__file__).resolve().parents[4]


def installer_path(root: Path, tools: Path) -> Path:
    env = {**os.environ, "CARDSTREAM_TOOLS": str(tools)}
    out = subprocess.run(
        ["bash", str(root / "scripts" / "install.sh"), "ferretdb-path"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return Path(out.stdout.strip())


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CARDSTREAM_TOOLS", str(tmp_path / "tools"))
    monkeypatch.delenv("FERRETDB_BIN", raising=False)
    return tmp_path / "tools"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The two inputs of the name and the script that reads them, away from the real checkout."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install.sh", root / "scripts" / "install.sh")
    shutil.copytree(FERRETDB_SOURCE, root / "deploy" / "ferretdb")
    return root


class TestFerretDBBuildPath:
    def test_is_the_path_the_installer_builds(self, tools: Path) -> None:
        assert ferretdb_build_path() == installer_path(ROOT, tools)

    def test_names_the_version_and_the_patches(self, tools: Path) -> None:
        version = (FERRETDB_SOURCE / "version").read_text().strip()

        folder = ferretdb_build_path().parent.name

        assert re.fullmatch(rf"ferretdb-{re.escape(version)}-[0-9a-f]{{12}}", folder), folder
        assert list((FERRETDB_SOURCE / "patches").glob("*.patch")), "no patch is applied"

    def test_changes_with_a_patch_and_agrees_on_the_order_of_many(
        self, tools: Path, checkout: Path
    ) -> None:
        source = checkout / "deploy" / "ferretdb"
        before = ferretdb_build_path(source)
        # Names whose order differs between the C locale and a natural or case-folding one.
        for name, body in [("0010-b.patch", "b"), ("002-a.patch", "a"), ("B-upper.patch", "B")]:
            (source / "patches" / name).write_text(f"{body}\n")

        after = ferretdb_build_path(source)

        assert after != before
        assert after == installer_path(checkout, tools)

    def test_changes_with_the_version(self, tools: Path, checkout: Path) -> None:
        source = checkout / "deploy" / "ferretdb"
        (source / "version").write_text("v1.24.3\n")

        after = ferretdb_build_path(source)

        assert after.parent.name.startswith("ferretdb-v1.24.3-")
        assert after == installer_path(checkout, tools)


class TestFerretDBBinary:
    def test_takes_ferretdb_bin_first(self, tools: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FERRETDB_BIN", "/opt/elsewhere/ferretdb")

        assert ferretdb_binary() == Path("/opt/elsewhere/ferretdb")

    def test_takes_the_build(self, tools: Path) -> None:
        built = ferretdb_build_path()
        built.parent.mkdir(parents=True)
        built.write_bytes(b"")

        assert ferretdb_binary() == built

    def test_refuses_a_ferretdb_on_path_or_an_older_build(
        self, tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        on_path = tmp_path / "bin" / "ferretdb"
        on_path.parent.mkdir()
        on_path.write_text("#!/bin/sh\n")
        on_path.chmod(0o755)
        monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ['PATH']}")
        unpatched = tools / "ferretdb-v1.24.2" / "ferretdb"
        unpatched.parent.mkdir(parents=True)
        unpatched.write_bytes(b"")

        with pytest.raises(ServerStartError, match="make install"):
            ferretdb_binary()
