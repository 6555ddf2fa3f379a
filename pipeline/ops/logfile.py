"""Structured logs: every INFO-or-worse record also goes to a JSON-lines file
(`log_file`, default out/logs/newsletter.jsonl), whatever stderr shows."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

_QUIET_LIBRARIES = ("httpx", "httpcore", "openai", "urllib3", "apscheduler.scheduler")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
            "command": " ".join(sys.argv[1:3]),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


_file_handler: logging.Handler | None = None


def configure(verbose: bool) -> None:
    """stderr shows warnings (everything with -v); the root logger passes INFO on to files."""
    global _file_handler
    _file_handler = None  # basicConfig(force=True) closes every root handler, ours included
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.INFO if verbose else logging.WARNING)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def log_to_file(path: Path | None) -> None:
    """(Re)point the JSON-lines file handler at `path` (None: no file)."""
    global _file_handler
    root = logging.getLogger()
    if _file_handler is not None:
        if path is not None and getattr(_file_handler, "baseFilename", "") == os.path.abspath(path):
            return
        root.removeHandler(_file_handler)
        _file_handler.close()
        _file_handler = None
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLines())
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    _file_handler = handler
