"""The process environment: the only module that reads or changes `os.environ`.

Settings come from `NEWSLETTER_*` variables through `config.py`, which reads them with
`env` and `names`; everything else the program takes from the environment (the config
file's path, a cache folder, a child process's environment) goes through here too. Secrets
(`SECRETS`) are read only by the three functions below, where they are used, and never
become settings, so they are in no settings dump or log.
Every function reads the environment when it is called, never at import, so a test's
`monkeypatch.setenv` is seen.
"""

from __future__ import annotations

import os

OPENAI_API_KEY = "OPENAI_API_KEY"
CONFIG_PATH = "NEWSLETTER_CONFIG"
SMTP_PASSWORD = "NEWSLETTER_SMTP_PASSWORD"
SECRET_KEY = "NEWSLETTER_SECRET_KEY"
CACHE_DIR = "NEWSLETTER_CACHE_DIR"
EDITOR_PASSWORD = "NEWSLETTER_EDITOR_PASSWORD"
SECRETS = (OPENAI_API_KEY, SMTP_PASSWORD, SECRET_KEY, EDITOR_PASSWORD)


def env(name: str) -> str | None:
    """The variable's value, or None when it is not set."""
    return os.environ.get(name)


def _secret(name: str) -> str:
    """A secret's value, "" when it is not set (callers say what is missing)."""
    return os.environ.get(name, "")


def openai_api_key() -> str:
    """The key for OpenAI-compatible endpoints; local servers take any key."""
    return _secret(OPENAI_API_KEY) or "not-needed"


def smtp_password() -> str:
    """The SMTP login password, "" when not set."""
    return _secret(SMTP_PASSWORD)


def secret_key() -> str:
    """The key that signs subscribe / unsubscribe / feedback links, "" when not set."""
    return _secret(SECRET_KEY)


def editor_password() -> str:
    """The editor's desk password; "" = not set (the desk is not mounted)."""
    return _secret(EDITOR_PASSWORD)


def user_name() -> str:
    """Who runs the command (the author of desk changes made from the command line)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "editor"


def names() -> list[str]:
    """The names of all variables set, sorted."""
    return sorted(os.environ)


def environment(**extra: str) -> dict[str, str]:
    """A copy of the environment with `extra` set, for a child process."""
    return {**os.environ, **extra}


def clean_environment(**extra: str) -> dict[str, str]:
    """A copy of the environment without this program's own NEWSLETTER_* variables, with
    `extra` set: for a child process that must see only the settings its caller gives."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return {**inherited, **extra}


def set_default(name: str, value: str) -> None:
    """Set a variable for this process (and libraries it loads) unless it is already set."""
    os.environ.setdefault(name, value)
