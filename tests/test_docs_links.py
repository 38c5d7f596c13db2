"""Docs and docstrings point only to files in the repository, and every relative link resolves."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", ".gramsetu", ".bench", "node_modules", "__pycache__"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Someone's checkout or reference files (a scratch output directory such as /tmp is fine).
# The project's reference notes (shared/reference, shared/seeds, shared/specs) sit beside the repository,
# not in it: a reader of a clone does not have them.
OUTSIDE = re.compile(r"((?<![\w.])(?:/work/|/home/|/Users/|/root/|file://)|\bshared/(?:reference|seeds|specs)\b)")


def repo_files(suffix: str) -> list[Path]:
    return [p for p in ROOT.rglob(f"*{suffix}") if not SKIP & set(p.relative_to(ROOT).parts)]


def test_every_relative_markdown_link_resolves_inside_the_repository() -> None:
    broken = []
    for doc in repo_files(".md"):
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.exists() or (ROOT not in path.parents and path != ROOT):
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, "\n".join(broken)


def _docstrings(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"))
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.ClassDef)))]
    return [doc for node in nodes if (doc := ast.get_docstring(node))]


def test_no_doc_or_docstring_points_outside_the_repository() -> None:
    found = []
    for doc in repo_files(".md"):
        found += [f"{doc.relative_to(ROOT)}: {m}" for m in OUTSIDE.findall(doc.read_text(encoding="utf-8"))]
    for source in repo_files(".py"):
        for text in _docstrings(source):
            found += [f"{source.relative_to(ROOT)}: {m}" for m in OUTSIDE.findall(text)]
    assert not found, "\n".join(found)
