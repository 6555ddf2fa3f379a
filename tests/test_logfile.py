"""Structured logs: JSON lines in out/logs/newsletter.jsonl, stderr quiet without -v."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import NewDatabase, invoke


def test_a_run_leaves_json_lines(env: dict[str, str], new_db_url: NewDatabase) -> None:
    # A database with no tables yet: its migration is logged at INFO.
    out = invoke("fetch", "--week", "2026-W25", "--database-url", new_db_url("new", empty=True))
    assert "INFO" not in out  # stderr shows warnings only without -v
    lines = Path("out/logs/newsletter.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(
        {"time", "level", "logger", "message", "pid"} <= r.keys() for r in records
    )
    assert any(r["logger"].startswith("pipeline") and r["level"] == "INFO" for r in records)


def test_log_file_can_be_moved_or_turned_off(env: dict[str, str], tmp_path: Path) -> None:
    invoke("--set", f"log_file={tmp_path / 'elsewhere.jsonl'}", "fetch", "--week", "2026-W25")
    assert (tmp_path / "elsewhere.jsonl").stat().st_size > 0
    invoke("--set", "log_file=", "status")
    assert not Path("out/logs/newsletter.jsonl").exists()
