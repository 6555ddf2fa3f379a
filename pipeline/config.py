"""Typed settings: defaults < TOML file < env `NEWSLETTER_*` < CLI flags.

The TOML file may group keys in tables; `[llm] base_url = ...` is the key
`llm_base_url` (env `NEWSLETTER_LLM_BASE_URL`).  Lists may be given in the
environment as JSON or as space/comma separated words.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipeline.env import CONFIG_PATH, EDITOR_PASSWORD, SECRET_KEY, SMTP_PASSWORD, env, names
from pipeline.errors import ConfigError
from pipeline.llm import weights
from pipeline.records import is_arxiv_id

log = logging.getLogger(__name__)
DEFAULT_CONFIG_FILE = "newsletter.toml"
PUBLIC_ARXIV_URL = "https://export.arxiv.org/api/query"
LOCAL_MODEL_NAME = weights.DEFAULT.name

WordList = Annotated[list[str], NoDecode]
NameList = Annotated[list[str], NoDecode]  # names contain spaces: separated by ; or ,

# Published list prices, USD per million tokens [input, output]; override in [llm.prices].
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    LOCAL_MODEL_NAME: (0.0, 0.0),
}


class Settings(BaseSettings):
    """Every knob of the pipeline. Build it once with `load_settings` and pass it down."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_", extra="forbid", validate_default=True, frozen=True
    )

    # What to fetch
    categories: WordList = Field(default_factory=lambda: ["cs.AI", "cs.LG", "cs.CL", "stat.ML"])
    include_terms: WordList = Field(default_factory=list)
    exclude_terms: WordList = Field(default_factory=list)
    followed_authors: NameList = Field(default_factory=list)
    seed_papers: WordList = Field(default_factory=list)
    interest_description: str = (
        "Large language models: reasoning, alignment and safety, evaluation, efficient "
        "training and inference, agents, tool use and retrieval; new methods and theory "
        "in deep learning."
    )

    # The issue
    highlights: int = Field(default=5, ge=1, le=50)
    # An LLM rates the top K papers against interest_description (-1: 20 with an endpoint,
    # off with the small local model; 0: off).
    rank_llm_top_k: int = Field(default=-1, ge=-1, le=500)
    # MMR trade-off for the highlights: 1 ranks by interest only, lower favours variety.
    diversity: float = Field(default=0.7, ge=0.0, le=1.0)
    also_this_week: int = Field(default=30, ge=0, le=1000)
    output_dir: Path = Path("out")

    # Storage
    database_url: str = "sqlite:///db/newsletter.sqlite3"

    # arXiv
    arxiv_url: str = PUBLIC_ARXIV_URL
    arxiv_delay_seconds: float = Field(default=3.0, ge=0)
    arxiv_page_size: int = Field(default=1000, ge=1, le=2000)
    arxiv_retries: int = Field(default=5, ge=0, le=20)
    arxiv_timeout_seconds: float = Field(default=60.0, gt=0)
    fetch_overlap_hours: int = Field(default=72, ge=0)

    # LLM (empty base URL: the embedded local model)
    llm_base_url: str = ""
    llm_model: str = "gpt-4o-mini"
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_max_tokens: int = Field(default=320, ge=16, le=8192)
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_concurrency: int = Field(default=8, ge=1, le=256)
    llm_threads: int = Field(default=0, ge=0, le=256)
    # The embedded model's GGUF file (empty: the one `make setup` installs; it must be the
    # pinned file, see pipeline/llm/weights.py).
    llm_local_model_file: Path | None = None
    llm_retries: int = Field(default=4, ge=0, le=20)
    # USD per million tokens, [input, output], by model name; unknown models cost 0 (warned).
    llm_prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(PRICES))

    # Embeddings (empty base URL: the local all-MiniLM-L6-v2 model)
    embedding_base_url: str = ""
    embedding_model: str = "text-embedding-3-small"

    # Summaries
    summaries_full_text: bool = False
    summaries_full_text_tokens: int = Field(default=6000, ge=200, le=200_000)
    summaries_oneliners: Literal["auto", "on", "off"] = "auto"
    fulltext_html_url: str = "https://arxiv.org/html"
    fulltext_pdf_url: str = "https://arxiv.org/pdf"
    cache_dir: Path = Path("db/cache")

    # JSON-lines log of every run (INFO and worse); "" = none. Default: out/logs/newsletter.jsonl
    log_file: str = "default"

    # Publishing: the archive site (out/site), its feeds, and links in the newsletter
    newsletter_title: str = Field(default="AI paper summaries", min_length=1, max_length=200)
    # Your own Jinja templates: a file here overrides the built-in of the same name.
    templates_dir: Path | None = None
    # Where out/site is served (`newsletter serve` by default): feed and "read online" links.
    public_url: str = "http://127.0.0.1:8000/"

    # The weekly schedule (`newsletter schedule`): a crontab rule in a time zone; a run
    # missed while the machine was off runs once on start-up within the grace time.
    schedule_cron: str = "0 7 * * mon"
    schedule_timezone: str = "UTC"
    schedule_grace_hours: int = Field(default=144, ge=1, le=24 * 30)
    schedule_send: bool = False  # also email the issue to subscribers after each run

    # The editor's desk: "required" holds each issue until `newsletter approve WEEK` (or the
    # desk's approve button); `send` refuses before. The scheduled run emails `editor_email`
    # a link to the desk. The desk's password: env NEWSLETTER_EDITOR_PASSWORD only.
    approval: Literal["auto", "required"] = "auto"
    editor_email: str = ""

    # Email delivery (password from env NEWSLETTER_SMTP_PASSWORD only)
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    smtp_user: str = ""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # The From address (env NEWSLETTER_FROM or NEWSLETTER_SMTP_FROM).
    smtp_from: str = Field(
        default="",
        validation_alias=AliasChoices("smtp_from", "newsletter_smtp_from", "newsletter_from"),
    )
    smtp_rate: float = Field(default=0.0, ge=0)  # messages per second; 0 = as fast as it goes
    smtp_retries: int = Field(default=3, ge=0, le=20)  # per message, for 4xx and dropped links
    list_id: str = ""  # List-Id header; default "<title> <newsletter.{host of public_url}>"

    # Podcast
    # LLM-written narration of each highlight: "auto" = with an endpoint, not with the local
    # model (which reads the summary instead); "on" / "off".
    podcast_narration: Literal["auto", "on", "off"] = "auto"
    podcast_words_per_minute: int = Field(default=150, ge=60, le=400)
    # Words said differently, merged over the built-in table ("" removes a built-in entry).
    podcast_replacements: dict[str, str] = Field(default_factory=dict)
    # Empty: espeak-ng (offline); else an OpenAI-compatible /v1/audio/speech endpoint.
    podcast_tts_base_url: str = ""
    podcast_tts_model: str = "tts-1"
    podcast_tts_voice: str = "alloy"
    podcast_espeak_voice: str = "en-us"

    @field_validator("categories", "include_terms", "exclude_terms", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        return _split(value, r"," if isinstance(value, str) and "," in value else r"\s+")

    @field_validator("followed_authors", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        return _split(value, r"[;,]")  # names contain spaces

    @field_validator("llm_local_model_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("seed_papers")
    @classmethod
    def _arxiv_ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not is_arxiv_id(v)]
        if bad:
            raise ValueError(f"not arXiv ids: {', '.join(bad)} (use the form 2406.07394)")
        return value

    @field_validator("categories")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one arXiv category, e.g. cs.LG")
        return value

    @field_validator(
        "arxiv_url",
        "llm_base_url",
        "fulltext_html_url",
        "fulltext_pdf_url",
        "embedding_base_url",
        "podcast_tts_base_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value.endswith("/") and value.count("/") > 3 else value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"must be an http(s) URL such as https://example.org/news/, got {value!r}"
            )
        return value if value.endswith("/") else value + "/"

    @field_validator("podcast_replacements", mode="before")
    @classmethod
    def _json_table(cls, value: Any) -> Any:
        if isinstance(value, str):  # from env or --set: '{"LLM": "L L M"}'
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        return value

    @field_validator("llm_prices", mode="before")
    @classmethod
    def _json_prices(cls, value: Any) -> Any:
        if isinstance(value, str):  # from --set llm_prices='{"model": [0.15, 0.6]}'
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not JSON: {exc}") from None
        return value

    @field_validator("llm_prices")
    @classmethod
    def _merge_prices(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for model, (inp, out) in value.items():
            if inp < 0 or out < 0:
                raise ValueError(f"negative price for {model!r}")
        return {**PRICES, **value}

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL ({exc})") from None
        return value

    @property
    def log_path(self) -> Path | None:
        if self.log_file == "default":
            return self.output_dir / "logs" / "newsletter.jsonl"
        return Path(self.log_file) if self.log_file else None

    @property
    def uses_local_model(self) -> bool:
        return not self.llm_base_url

    @property
    def llm_rerank_k(self) -> int:
        if self.rank_llm_top_k == -1:
            return 0 if self.uses_local_model else 20
        return self.rank_llm_top_k

    @property
    def model_name(self) -> str:
        return LOCAL_MODEL_NAME if self.uses_local_model else self.llm_model

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _CONFIG_PATH.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path is not None:
            sources.append(_TomlSource(settings_cls, toml_path))
        return tuple(sources)


def _split(value: Any, separator: str) -> Any:
    """A list given as one string (env, --set): JSON, or items split on `separator`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in re.split(separator, text) if item.strip()]


# `settings_customise_sources` is a classmethod with a fixed signature, so the file
# chosen by `load_settings` reaches it through this one-slot holder.
_CONFIG_PATH: dict[str, Path | None] = {}


class _TomlSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        self.path = path
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        self.values = _flatten(raw, dict_keys=_DICT_SETTINGS)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


_DICT_SETTINGS = {"llm_prices", "podcast_replacements"}


def _flatten(
    table: Mapping[str, Any],
    prefix: str = "",
    *,
    dict_keys: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """`[llm] base_url` -> `llm_base_url`; a table that is itself a setting stays a dict."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_").replace(".", "_")
        if isinstance(value, dict) and name not in dict_keys:
            flat.update(_flatten(value, f"{name}_", dict_keys=dict_keys))
        else:
            flat[name] = value
    return flat


def load_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build the one Settings object; a bad value raises ConfigError naming the key."""
    path = config
    if path is None:
        env_path = env(CONFIG_PATH)
        path = Path(env_path) if env_path else Path(DEFAULT_CONFIG_FILE)
        if env_path is None and not path.exists():
            path = None
    elif not path.exists():
        raise ConfigError(f"config file {path} does not exist (copy newsletter.example.toml)")
    if path is not None and not path.exists():
        raise ConfigError(f"config file {path} (NEWSLETTER_CONFIG) does not exist")
    _CONFIG_PATH["path"] = path
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        settings = Settings(**clean)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    finally:
        _CONFIG_PATH.pop("path", None)
    check_paths(settings)
    _warn_unknown_env()
    return settings


# Read from the environment by other parts of the program, not settings.
_NON_SETTING_ENV = {
    CONFIG_PATH,
    SMTP_PASSWORD,
    SECRET_KEY,
    EDITOR_PASSWORD,
    "NEWSLETTER_FROM",
}


def _warn_unknown_env() -> None:
    known = {f"NEWSLETTER_{name.upper()}" for name in Settings.model_fields} | _NON_SETTING_ENV
    for name in names():
        if name.startswith("NEWSLETTER_") and name not in known:
            log.warning("ignoring %s: not a setting (see newsletter.example.toml)", name)


def _describe(exc: ValidationError, path: Path | None) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "?"
    where = (
        f" (in {path}, or env NEWSLETTER_{key.upper()})"
        if path
        else (f" (env NEWSLETTER_{key.upper()})")
    )
    if err["type"] == "extra_forbidden":
        return f"unknown setting '{key}'{where}; see newsletter.example.toml for the valid keys"
    msg = err["msg"].removeprefix("Value error, ")
    return f"bad setting '{key}'{where}: {msg}"


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases / in-memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def check_paths(settings: Settings) -> None:
    """Fail at start, naming the key, when a configured path cannot be used."""
    if settings.templates_dir is not None and not settings.templates_dir.is_dir():
        raise ConfigError(
            f"bad setting 'templates_dir': {settings.templates_dir} is not a directory "
            "(copy the files of templates/ you want to change into one)"
        )
    db_file = sqlite_path(settings.database_url)
    checks = [("output_dir", settings.output_dir), ("cache_dir", settings.cache_dir)]
    if db_file is not None:
        checks.append(("database_url", db_file.parent))
    for key, directory in checks:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"bad setting '{key}': cannot create directory {directory}: {exc.strerror}"
            ) from None
        if not os.access(directory, os.W_OK):
            raise ConfigError(f"bad setting '{key}': directory {directory} is not writable")
