"""The package's dependencies run one way: every import, lazy ones included, goes to a lower layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cyclegan_fx

PACKAGE = Path(cyclegan_fx.__file__).parent

# Lowest first. A module may import its own package and any package of a lower layer, nothing else.
LAYERS: list[set[str]] = [
    {"errors"},
    {"extras", "config_fields", "io"},
    {"networks"},
    {"runtime"},
    {"models"},
    {"export"},
    {"runners"},
    {"training"},
    {"distill"},
    {"video"},
    {"watch", "serve", "scale", "gimp"},  # scale's video --ray is built on video
    {"cli"},
    {"__main__"},
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}


def imported_packages(path: Path) -> set[str]:
    """Top-level parts of cyclegan_fx that a source file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; the package uses absolute ones")
        names = [node.module] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {n.split(".")[1] for n in names if n and n.startswith("cyclegan_fx.")}
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def test_every_part_of_the_package_has_a_layer():
    assert {part_of(p) for p in SOURCES} == set(LEVEL)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    here = part_of(path)
    upward = {name for name in imported_packages(path) - {here} if LEVEL[name] >= LEVEL[here]}
    assert not upward, f"{path.relative_to(PACKAGE)} ({here}) imports {sorted(upward)}, which are not below it"


def test_the_check_sees_lazy_imports(tmp_path):
    """An import inside a function counts as much as one at the top: the check would see a back arrow."""
    source = tmp_path / "lazy.py"
    source.write_text("def f():\n    from cyclegan_fx.cli.apply import apply\n")
    assert imported_packages(source) == {"cli"}
