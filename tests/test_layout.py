"""Only `pipeline/store/` speaks SQL (ARCHITECTURE.md, *Storage*), checked on the source.

Outside `pipeline/store/` (and `db/migrations/`, which is schema code), a module may:
- import from `sqlalchemy` (or `sqlalchemy.engine`) only the handle types `Engine` and
  `Connection`, to pass them on to store functions, plus `make_url` (a URL parser);
- import anything from `sqlalchemy.exc` (exceptions to catch);
and may not:
- import anything else from `sqlalchemy*` or `sqlmodel*` (`select`, `update`, `text`, `func`,
  `col`, `Session`, ...), nor `import sqlalchemy`, `sqlmodel` or `sqlite3` whole;
- import `session` (or `Session`) from `pipeline.store.db`;
- call `.exec(`, `.execute(`, `.executemany(`, `.executescript(`, `.scalar(` or
  `.scalars(` on anything, nor `.begin(` / `.connect(` on an engine.
`SQLModel` tables (`pipeline.store.models`) may be built and read anywhere: they are the
plain rows the store takes and returns.

No module is exempt: even the embedding cache's own SQLite file is read and written by
`store/embed_cache.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {
    "sqlalchemy": {"Engine", "Connection"},
    "sqlalchemy.engine": {"Engine", "Connection", "make_url"},
}
SQL_PACKAGES = ("sqlalchemy", "sqlmodel", "sqlite3")
SQL_CALLS = {"exec", "execute", "executemany", "executescript", "scalar", "scalars"}
ENGINE_CALLS = {"begin", "connect"}


def _is_sql_package(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in SQL_PACKAGES)


def _engine_like(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "engine" in name.lower()


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Every way `source` speaks SQL, as "file:line: what"."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where}: import {a.name}" for a in node.names if _is_sql_package(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module:
            module, names = node.module, [a.name for a in node.names]
            if module == "sqlalchemy.exc":
                continue
            if _is_sql_package(module):
                bad = [n for n in names if n not in ALLOWED.get(module, set())]
            elif module == "pipeline.store.db":
                bad = [n for n in names if n in {"session", "Session"}]
            else:
                bad = []
            found += [f"{where}: from {module} import {n}" for n in bad]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr in SQL_CALLS or (attr in ENGINE_CALLS and _engine_like(node.func.value)):
                found.append(f"{where}: .{attr}(...)")
    return found


def _outside_store() -> list[Path]:
    files = sorted((ROOT / "pipeline").rglob("*.py"))
    return [f for f in files if not f.relative_to(ROOT).as_posix().startswith("pipeline/store/")]


def test_only_store_speaks_sql() -> None:
    files = _outside_store()
    assert len(files) > 50  # the scan sees the package
    found = [v for f in files for v in violations(f.read_text("utf-8"), str(f.relative_to(ROOT)))]
    assert found == []


def test_the_check_catches_a_query() -> None:
    """The rule fails on the ways a query could come back outside store/."""
    query = """
from sqlalchemy import Engine, select, text
from sqlmodel import Session, col
from pipeline.store.db import session, utcnow
import sqlite3

def f(engine: Engine) -> None:
    with session(engine) as s:
        s.exec(select(X))
    with engine.begin() as db:
        db.execute(text("DELETE FROM x"))
    with self.engine.connect() as db:
        db.scalars(q)
"""
    found = [v.split(": ", 1)[1] for v in violations(query)]
    assert sorted(found) == sorted(
        [
            "from sqlalchemy import select",
            "from sqlalchemy import text",
            "from sqlmodel import Session",
            "from sqlmodel import col",
            "from pipeline.store.db import session",
            "import sqlite3",
            ".exec(...)",
            ".begin(...)",
            ".execute(...)",
            ".connect(...)",
            ".scalars(...)",
        ]
    )
    allowed = """
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from pipeline.store.db import open_database, utcnow
smtp.connect(settings)
"""
    assert violations(allowed) == []


# Packages that must not import each other, one way (ARCHITECTURE.md, *Dependencies*).
FORBIDDEN = {
    "pipeline/store/": ("pipeline.fetch", "pipeline.ranking", "pipeline.summarize"),
    "pipeline/render/": ("pipeline.podcast", "pipeline.issue_files", "pipeline.runner"),
    "pipeline/llm/": ("pipeline.bench", "pipeline.runner", "pipeline.wiring"),
}


def imported_modules(source: str) -> set[str]:
    """Every module `source` imports, at any depth (a function-level import counts too)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_dependencies_point_one_way() -> None:
    wrong = []
    for folder, banned in FORBIDDEN.items():
        files = sorted((ROOT / folder).rglob("*.py"))
        assert files, folder
        for f in files:
            for module in imported_modules(f.read_text("utf-8")):
                if any(module == b or module.startswith(b + ".") for b in banned):
                    wrong.append(f"{f.relative_to(ROOT)}: imports {module}")
    assert wrong == []


def test_the_dependency_check_sees_imports() -> None:
    source = (
        "from pipeline.podcast.script import Script\ndef f():\n    import pipeline.bench.ingest\n"
    )
    assert {"pipeline.podcast.script", "pipeline.bench.ingest"} <= imported_modules(source)
