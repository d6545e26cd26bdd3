"""What pyproject.toml promises users: declared, bounded dependencies and clean metadata."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCE = ROOT / "src" / "certv6"
CORE = {"acme", "josepy", "cryptography", "dnspython", "click", "requests", "urllib3"}


def requirements() -> dict[str, Requirement]:
    found = (Requirement(text) for text in PYPROJECT["project"]["dependencies"])
    return {requirement.name.lower(): requirement for requirement in found}


def imported_top_level_modules() -> set[str]:
    """Modules ``src/certv6`` imports at module level or in functions (not via importlib)."""
    names: set[str] = set()
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"certv6"}


def test_every_imported_library_is_a_declared_dependency() -> None:
    distributions = importlib.metadata.packages_distributions()
    declared = set(requirements())
    for module in sorted(imported_top_level_modules()):
        owners = {name.lower() for name in distributions.get(module, [module])}
        assert owners & declared, f"src imports {module} ({owners}) but pyproject does not list it"


def test_core_dependencies_are_bounded_at_the_next_major_version() -> None:
    found = requirements()
    assert set(found) >= CORE, CORE - set(found)
    for name in CORE:
        uppers = [spec for spec in found[name].specifier if spec.operator == "<"]
        assert uppers, f"{name} has no upper bound"
        lowers = [spec for spec in found[name].specifier if spec.operator == ">="]
        assert lowers and Version(uppers[0].version) > Version(lowers[0].version)


def test_the_installed_versions_satisfy_the_declared_ranges() -> None:
    for name, requirement in requirements().items():
        installed = importlib.metadata.version(name)
        assert requirement.specifier.contains(installed, prereleases=True), (name, installed)


def test_license_is_an_spdx_expression() -> None:
    # A TOML table is deprecated (setuptools warns on every install); PEP 639 wants a string,
    # which setuptools reads from version 77 on.
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if "setuptools" in r]
    assert Requirement(setuptools).specifier.contains("77.0.0")
    assert not Requirement(setuptools).specifier.contains("76.0.0")
    metadata = importlib.metadata.metadata("certv6")
    assert metadata["License-Expression"] == "Apache-2.0", "reinstall: bash scripts/bootstrap"


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            found[canonical(name)] = version
    return found


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def test_constraints_pin_every_dependency_and_tool_within_the_ranges() -> None:
    pinned = pins()
    declared = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    declared += [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]]
    for requirement in declared:
        name = canonical(requirement.name)
        assert name in pinned, f"constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pinned[name]), (name, pinned[name])


def test_this_environment_is_the_pinned_one() -> None:
    # What bootstrap installed is what CI tests with. setuptools is the build backend: the
    # pinned one runs in pip's isolated build environment, not in the venv.
    for name, version in pins().items():
        if name == "setuptools":
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pulled in only under another Python (a marker)
        assert installed == version, f"{name} {installed} installed, {version} pinned"
