"""Each package declares every distribution its source imports, and imports every one it declares,
so that any one of them installs alone with what it needs and nothing it does not; and
requirements.lock, which `scripts/install.sh` installs, pins every one of them (offline: the lock
is read, never resolved).

Import names are mapped to distributions through our own packages' `src/` folders and, for the
rest, through the installed distributions' metadata (`jwt` is PyJWT's, `bson` is pymongo's): no
table to keep by hand. A dependency wanted only for what it does at run time is declared as an
extra of the one that uses it (`redis[hiredis]`), so it needs no exception here.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from functools import cache
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(
    path.parent.relative_to(ROOT).as_posix()
    for pattern in ("contracts", "libs/*", "services/*")
    for path in ROOT.glob(f"{pattern}/pyproject.toml")
)
LOCK = ROOT / "requirements.lock"
DEV_REQUIREMENTS = ROOT / "requirements-dev.in"
INSTALL_SCRIPT = ROOT / "scripts" / "install.sh"


def project(package: str) -> dict[str, object]:
    with (ROOT / package / "pyproject.toml").open("rb") as file:
        table: dict[str, object] = tomllib.load(file)["project"]
    return table


def declared(package: str) -> set[str]:
    requirements = project(package).get("dependencies", [])
    assert isinstance(requirements, list)
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def top_level_names(package: str) -> set[str]:
    src = ROOT / package / "src"
    return {p.stem for p in src.iterdir() if (p / "__init__.py").exists() or p.suffix == ".py"}


@cache
def local_distributions() -> dict[str, str]:
    """Import name -> distribution, for our own packages, read from the tree (not the venv)."""
    return {
        name: canonicalize_name(str(project(package)["name"]))
        for package in PACKAGES
        for name in top_level_names(package)
    }


@cache
def installed_distributions() -> dict[str, list[str]]:
    return packages_distributions()


def imports(package: str) -> dict[str, set[str]]:
    """Top-level absolute imports of the package's source -> the files that make them."""
    found: dict[str, set[str]] = defaultdict(set)
    src = ROOT / package / "src"
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found[name.partition(".")[0]].add(path.relative_to(ROOT).as_posix())
    own = top_level_names(package) | set(sys.stdlib_module_names) | {"__future__"}
    return {name: files for name, files in found.items() if name not in own}


def distributions_of(module: str) -> set[str]:
    if module in local_distributions():
        return {local_distributions()[module]}
    return {canonicalize_name(d) for d in installed_distributions().get(module, [])}


def imported(package: str) -> dict[str, set[str]]:
    """Distribution -> the files that import it; an import no distribution provides fails."""
    by_distribution: dict[str, set[str]] = defaultdict(set)
    unknown = []
    for module, files in imports(package).items():
        distributions = distributions_of(module)
        if not distributions:
            unknown.append(f"{module} (in {', '.join(sorted(files))})")
        # A module several distributions provide (a namespace) counts for any one declared.
        wanted = distributions & declared(package) or distributions
        for distribution in wanted:
            by_distribution[distribution] |= files
    assert not unknown, f"{package}: no installed distribution provides {unknown}"
    return by_distribution


def test_the_packages_are_found() -> None:
    assert {"contracts", "libs/runtime", "services/boards"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_imported_distribution_is_declared(package: str) -> None:
    missing = {
        distribution: sorted(files)
        for distribution, files in imported(package).items()
        if distribution not in declared(package)
    }
    assert not missing, f"{package}/pyproject.toml does not declare what its source imports"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_declared_distribution_is_imported(package: str) -> None:
    unused = declared(package) - set(imported(package))
    assert not unused, f"{package}/pyproject.toml declares what its source never imports"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_distribution_is_named_for_the_project(package: str) -> None:
    # The bare names (auth, boards, contracts, projector) belong to unrelated projects on PyPI.
    assert str(project(package)["name"]).startswith("cardstream-")


def locked() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", LOCK.read_text(), re.M)
    return {canonicalize_name(name): Version(version) for name, version in pins}


def requirements_of(package: str) -> list[Requirement]:
    requirements = project(package).get("dependencies", [])
    assert isinstance(requirements, list)
    return [Requirement(r) for r in requirements]


def dev_requirements() -> list[Requirement]:
    lines = (line.partition("#")[0].strip() for line in DEV_REQUIREMENTS.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def third_party_requirements() -> list[Requirement]:
    ours = set(local_distributions().values())
    everything = [r for package in PACKAGES for r in requirements_of(package)] + dev_requirements()
    return [r for r in everything if canonicalize_name(r.name) not in ours]


def extra_requirements(requirement: Requirement) -> list[Requirement]:
    """What an extra (`redis[hiredis]`) adds, from the installed distribution's metadata."""

    def added(wanted: Requirement) -> bool:
        marker = wanted.marker
        if marker is None or marker.evaluate({"extra": ""}):
            return False  # wanted without the extra too
        return any(marker.evaluate({"extra": extra}) for extra in requirement.extras)

    return [r for r in map(Requirement, requires(requirement.name) or []) if added(r)]


def test_the_lock_pins_every_declared_dependency_at_a_version_it_allows() -> None:
    pins = locked()
    requirements = third_party_requirements()
    requirements += [e for r in requirements if r.extras for e in extra_requirements(r)]
    problems = []
    for requirement in requirements:
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement}: not in the lock")
        elif pin not in requirement.specifier:
            problems.append(f"{requirement}: the lock has {pin}")
    assert not problems, f"run `make lock`: {sorted(set(problems))}"


def test_the_lock_pins_none_of_our_own_packages() -> None:
    # They are installed editable from the tree; a pin would fetch a namesake from the index.
    assert not set(locked()) & set(local_distributions().values())


def test_every_pin_in_the_lock_carries_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 2)[2].strip())
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert len(entries) == len(locked())
    assert not unhashed


def test_install_sh_installs_every_package_in_the_tree() -> None:
    listed = re.search(r"^LOCAL_PACKAGES=\(\n(.*?)^\)", INSTALL_SCRIPT.read_text(), re.M | re.S)
    assert listed is not None
    assert sorted(listed.group(1).split()) == PACKAGES
