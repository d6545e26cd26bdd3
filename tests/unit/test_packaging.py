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
