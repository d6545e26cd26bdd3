"""README's "How the code is laid out" and docs/architecture.md name the tree as it is.

Every package and module directly under src/certv6 (and every directory under tests/)
must appear in the README's section, and everything those two documents name as
``x.py`` or ``x/`` at that level must exist: a rename or a new module that the
documents miss fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "certv6"
NAME = re.compile(r"(?<![\w/.-])([a-z][a-z0-9_]*)(\.py|/)(?![\w.])")


def tree() -> set[str]:
    found = {p.name + "/" for p in SOURCE.iterdir() if (p / "__init__.py").exists()}
    found |= {p.name for p in SOURCE.glob("*.py") if not p.name.startswith("__")}
    return found


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end >= 0 else None]


def named(text: str) -> set[str]:
    return {name + suffix for name, suffix in NAME.findall(text)}


def test_readme_layout_names_every_module_and_only_real_ones() -> None:
    layout = section((ROOT / "README.md").read_text(), "## How the code is laid out")
    mentioned = named(layout)
    assert tree() <= mentioned, f"missing from the README: {sorted(tree() - mentioned)}"
    test_dirs = {p.name + "/" for p in (ROOT / "tests").iterdir() if p.is_dir()} - {"__pycache__/"}
    assert test_dirs <= mentioned, f"missing from the README: {sorted(test_dirs - mentioned)}"
    unknown = mentioned - tree() - test_dirs - {"src/", "tests/", "renew/"}
    assert not unknown, f"the README names what does not exist: {sorted(unknown)}"


def test_architecture_doc_names_every_top_level_module() -> None:
    layers = section((ROOT / "docs" / "architecture.md").read_text(), "## Layers and imports")
    mentioned = named(layers)
    assert tree() <= mentioned, f"missing from docs/architecture.md: {sorted(tree() - mentioned)}"


def test_every_module_named_in_the_architecture_doc_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    for package, module in re.findall(r"`([a-z_]+)/([a-z_]+\.py)`", text):
        assert (SOURCE / package / module).exists() or (ROOT / package / module).exists(), (
            f"docs/architecture.md names {package}/{module}"
        )
