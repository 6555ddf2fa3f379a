"""Typed settings: defaults < TOML file < env `NEWSLETTER_*` < CLI flags.

Settings are nested by concern (`settings.llm.base_url`, `settings.smtp.host`), but every
key a user writes is flat: `[llm] base_url = ...` in the TOML file is the key
`llm_base_url`, as is a top-level `llm_base_url = ...`, env `NEWSLETTER_LLM_BASE_URL` and
`--set llm_base_url=...`. A flat key is its group and field joined by `_`, except the few
in `RENAMED`; `SETTING_PATHS` maps every flat key to its place. Each source gives a flat
dict, the merged dict is nested and validated, and an error names the flat key. Lists may
be given in the environment as JSON or as space/comma separated words. Secrets are no
settings: `pipeline/env.py` reads them where they are used.
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

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipeline.env import CONFIG_PATH, SECRETS, env, names
from pipeline.errors import ConfigError
from pipeline.llm import weights
from pipeline.records import is_arxiv_id

log = logging.getLogger(__name__)
DEFAULT_CONFIG_FILE = "newsletter.toml"
PUBLIC_ARXIV_URL = "https://export.arxiv.org/api/query"
LOCAL_MODEL_NAME = weights.DEFAULT.name
ENV_PREFIX = "NEWSLETTER_"

# Published list prices, USD per million tokens [input, output]; override in [llm.prices].
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    LOCAL_MODEL_NAME: (0.0, 0.0),
}


def _split(value: Any, separator: str) -> Any:
    """A list given as one string (env, --set): JSON, or items split on `separator`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    return [item.strip() for item in re.split(separator, text) if item.strip()]


def _split_words(value: Any) -> Any:
    return _split(value, r"," if isinstance(value, str) and "," in value else r"\s+")


def _json_table(value: Any) -> Any:
    if isinstance(value, str):  # from env or --set: '{"LLM": "L L M"}'
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
    return value


def _http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/") if value.endswith("/") and value.count("/") > 3 else value


WordList = Annotated[list[str], BeforeValidator(_split_words)]
# Names contain spaces: separated by ; or ,
NameList = Annotated[list[str], BeforeValidator(lambda value: _split(value, r"[;,]"))]
HttpUrl = Annotated[str, AfterValidator(_http_url)]  # "" allowed: the local default


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ArxivSettings(_Group):
    url: HttpUrl = PUBLIC_ARXIV_URL
    delay_seconds: float = Field(default=3.0, ge=0)
    page_size: int = Field(default=1000, ge=1, le=2000)
    retries: int = Field(default=5, ge=0, le=20)
    timeout_seconds: float = Field(default=60.0, gt=0)
    # A default fetch restarts this long before the stored watermark (key fetch_overlap_hours).
    overlap_hours: int = Field(default=72, ge=0)


class LLMSettings(_Group):
    """The chat model; an empty base URL means the embedded local model."""

    base_url: HttpUrl = ""
    model: str = "gpt-4o-mini"
    temperature: float = Field(default=0.2, ge=0, le=2)
    max_tokens: int = Field(default=320, ge=16, le=8192)
    timeout_seconds: float = Field(default=120.0, gt=0)
    concurrency: int = Field(default=8, ge=1, le=256)
    threads: int = Field(default=0, ge=0, le=256)
    # The embedded model's GGUF file (empty: the one `make setup` installs; it must be the
    # pinned file, see pipeline/llm/weights.py).
    local_model_file: Path | None = None
    retries: int = Field(default=4, ge=0, le=20)
    # USD per million tokens, [input, output], by model name; unknown models cost 0 (warned).
    prices: Annotated[dict[str, tuple[float, float]], BeforeValidator(_json_table)] = Field(
        default_factory=lambda: dict(PRICES)
    )

    @field_validator("local_model_file", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("prices")
    @classmethod
    def _merge_prices(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for model, (inp, out) in value.items():
            if inp < 0 or out < 0:
                raise ValueError(f"negative price for {model!r}")
        return {**PRICES, **value}

    @property
    def uses_local_model(self) -> bool:
        return not self.base_url


class EmbeddingSettings(_Group):
    """Empty base URL: the local all-MiniLM-L6-v2 model."""

    base_url: HttpUrl = ""
    model: str = "text-embedding-3-small"


class SummariesSettings(_Group):
    full_text: bool = False
    full_text_tokens: int = Field(default=6000, ge=200, le=200_000)
    oneliners: Literal["auto", "on", "off"] = "auto"


class FulltextSettings(_Group):
    """Where full texts are downloaded from (+ /<id>v<version>)."""

    html_url: HttpUrl = "https://arxiv.org/html"
    pdf_url: HttpUrl = "https://arxiv.org/pdf"


class SiteSettings(_Group):
    """Publishing: the archive site (out/site), its feeds, and links in the newsletter."""

    title: str = Field(default="AI paper summaries", min_length=1, max_length=200)
    # Your own Jinja templates: a file here overrides the built-in of the same name.
    templates_dir: Path | None = None
    # Where out/site is served (`newsletter serve` by default): feed and "read online" links.
    public_url: str = "http://127.0.0.1:8000/"

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"must be an http(s) URL such as https://example.org/news/, got {value!r}"
            )
        return value if value.endswith("/") else value + "/"


class ScheduleSettings(_Group):
    """The weekly schedule (`newsletter schedule`): a crontab rule in a time zone; a run
    missed while the machine was off runs once on start-up within the grace time."""

    cron: str = "0 7 * * mon"
    timezone: str = "UTC"
    grace_hours: int = Field(default=144, ge=1, le=24 * 30)
    send: bool = False  # also email the issue to subscribers after each run


class SmtpSettings(_Group):
    """Email delivery (the password comes from env NEWSLETTER_SMTP_PASSWORD only)."""

    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    tls: Literal["none", "starttls", "ssl"] = "none"
    user: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    from_address: str = ""  # key smtp_from (env NEWSLETTER_FROM or NEWSLETTER_SMTP_FROM)
    rate: float = Field(default=0.0, ge=0)  # messages per second; 0 = as fast as it goes
    # SMTP connections a send uses at once (`--workers` overrides); `rate` caps them together.
    workers: int = Field(default=1, ge=1, le=64)
    retries: int = Field(default=3, ge=0, le=20)  # per message, for 4xx and dropped links
    list_id: str = ""  # List-Id header; default "<title> <newsletter.{host of public_url}>"


class PodcastSettings(_Group):
    # LLM-written narration of each highlight: "auto" = with an endpoint, not with the local
    # model (which reads the summary instead); "on" / "off".
    narration: Literal["auto", "on", "off"] = "auto"
    words_per_minute: int = Field(default=150, ge=60, le=400)
    # Words said differently, merged over the built-in table ("" removes a built-in entry).
    replacements: Annotated[dict[str, str], BeforeValidator(_json_table)] = Field(
        default_factory=dict
    )
    # The speech engine of `--audio`: "auto" = the endpoint when tts_base_url is set, else
    # the best offline one installed (a Piper voice, else espeak-ng); or "piper" / "espeak" /
    # "openai" (an OpenAI-compatible /v1/audio/speech endpoint at tts_base_url).
    tts: Literal["auto", "piper", "espeak", "openai"] = "auto"
    tts_base_url: HttpUrl = ""
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    piper_voice: str = "en_US-joe-medium"
    espeak_voice: str = "en-us"


class DeskSettings(_Group):
    """The editor's desk: "required" holds each issue until `newsletter approve WEEK` (or the
    desk's approve button) and `send` refuses before; the scheduled run then emails
    `editor_email` a link to the desk. The desk's password: env NEWSLETTER_EDITOR_PASSWORD
    only."""

    approval: Literal["auto", "required"] = "auto"
    editor_email: str = ""


class Settings(_Group):
    """Every knob of the pipeline. Build it once with `load_settings` and pass it down."""

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
    cache_dir: Path = Path("db/cache")

    # JSON-lines log of every run (INFO and worse); "" = none. Default: out/logs/newsletter.jsonl
    log_file: str = "default"

    arxiv: ArxivSettings = Field(default_factory=ArxivSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    summaries: SummariesSettings = Field(default_factory=SummariesSettings)
    fulltext: FulltextSettings = Field(default_factory=FulltextSettings)
    site: SiteSettings = Field(default_factory=SiteSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    podcast: PodcastSettings = Field(default_factory=PodcastSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)

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
        return self.llm.uses_local_model

    @property
    def llm_rerank_k(self) -> int:
        if self.rank_llm_top_k == -1:
            return 0 if self.uses_local_model else 20
        return self.rank_llm_top_k

    @property
    def model_name(self) -> str:
        return LOCAL_MODEL_NAME if self.uses_local_model else self.llm.model

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat key, as `load_settings` takes them."""
        values: dict[str, Any] = {}
        for key, path in SETTING_PATHS.items():
            value: Any = self
            for part in path.split("."):
                value = getattr(value, part)
            values[key] = value
        return values

    def with_values(self, changes: Mapping[str, Any]) -> Settings:
        """A copy with some settings changed, by flat key, validated like a loaded one."""
        return _validated({**self.flat(), **_canonical(changes)}, None)


# The flat keys (TOML, env NEWSLETTER_<KEY>, --set) that are not "<group>_<field>".
RENAMED: dict[str, str] = {
    "fetch_overlap_hours": "arxiv.overlap_hours",
    "newsletter_title": "site.title",
    "templates_dir": "site.templates_dir",
    "public_url": "site.public_url",
    "smtp_from": "smtp.from_address",
    "list_id": "smtp.list_id",
    "approval": "desk.approval",
    "editor_email": "desk.editor_email",
}
# More keys for one setting, the first given wins; env names are these keys in upper case.
ALIASES: dict[str, str] = {"newsletter_smtp_from": "smtp_from", "newsletter_from": "smtp_from"}
# Settings whose value is a TOML table, kept as a dict rather than flattened.
DICT_SETTINGS = frozenset({"llm_prices", "podcast_replacements"})


def _setting_paths() -> dict[str, str]:
    flat_key = {path: key for key, path in RENAMED.items()}
    paths: dict[str, str] = {}
    for name, field in Settings.model_fields.items():
        group = field.annotation
        if not (isinstance(group, type) and issubclass(group, _Group)):
            paths[name] = name
            continue
        for sub in group.model_fields:
            path = f"{name}.{sub}"
            paths[flat_key.get(path, f"{name}_{sub}")] = path
    return paths


# Every flat key -> its dotted place in Settings: {"llm_base_url": "llm.base_url", ...}
SETTING_PATHS: dict[str, str] = _setting_paths()
_FLAT_KEY = {path: key for key, path in SETTING_PATHS.items()}


def env_names(key: str) -> list[str]:
    """The environment variables of a flat key, the first set wins."""
    aliases = [alias.upper() for alias, target in ALIASES.items() if target == key]
    return [ENV_PREFIX + key.upper(), *(a for a in aliases if a != ENV_PREFIX + key.upper())]


def _canonical(values: Mapping[str, Any]) -> dict[str, Any]:
    """Aliases replaced by their key (the key itself, then the first alias, wins)."""
    out = {k: v for k, v in values.items() if k not in ALIASES}
    for alias, key in ALIASES.items():
        if alias in values:
            out.setdefault(key, values[alias])
    return out


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`[llm] base_url` -> `llm_base_url`; a table that is itself a setting stays a dict."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}".replace("-", "_").replace(".", "_")
        if isinstance(value, dict) and name not in DICT_SETTINGS:
            flat.update(_flatten(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def parse_sets(items: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs (repeatable, on the CLI and the benchmarks) as overrides."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs KEY=VALUE, got {item!r}")
        overrides[key.strip().replace("-", "_")] = value
    return overrides


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    return _canonical(_flatten(raw))


def _from_env() -> dict[str, Any]:
    """Every setting given as NEWSLETTER_<KEY> (names are case-insensitive)."""
    present = {name.upper(): name for name in names()}
    values: dict[str, Any] = {}
    for key in SETTING_PATHS:
        given = [present[n] for n in env_names(key) if n in present]
        if given:
            values[key] = env(given[0])
    return values


def _validated(flat: Mapping[str, Any], path: Path | None) -> Settings:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if key in SETTING_PATHS:
            *group, field = SETTING_PATHS[key].split(".")
            (nested.setdefault(group[0], {}) if group else nested)[field] = value
    try:
        settings = Settings.model_validate(nested)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"]]
        head = 2 if loc[0] in _GROUPS and len(loc) > 1 else 1
        key = ".".join([_FLAT_KEY.get(".".join(loc[:head]), loc[0]), *loc[head:]])
        raise ConfigError(_describe(key, err["msg"], path)) from None
    unknown = [key for key in flat if key not in SETTING_PATHS]
    if unknown:
        raise ConfigError(_describe(unknown[0], None, path))
    return settings


_GROUPS = {path.split(".")[0] for path in SETTING_PATHS.values() if "." in path}


def _describe(key: str, msg: str | None, path: Path | None) -> str:
    var = f"env {ENV_PREFIX}{key.upper()}"
    where = f" (in {path}, or {var})" if path else f" ({var})"
    if msg is None:
        secret = f"{ENV_PREFIX}{key.upper()}"
        if secret in SECRETS or key.upper() in SECRETS:
            return f"'{key}' is a secret: set it in the environment only, not in settings"
        return f"unknown setting '{key}'{where}; see newsletter.example.toml for the valid keys"
    return f"bad setting '{key}'{where}: {msg.removeprefix('Value error, ')}"


def load_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build the one Settings object from flat keys; a bad value raises ConfigError naming
    the key."""
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
    given = _canonical({k: v for k, v in (overrides or {}).items() if v is not None})
    from_file = _from_toml(path) if path is not None else {}
    settings = _validated({**from_file, **_from_env(), **given}, path)
    check_paths(settings)
    _warn_unknown_env()
    return settings


# Read from the environment by other parts of the program, not settings.
_NON_SETTING_ENV = {CONFIG_PATH, *SECRETS}


def _warn_unknown_env() -> None:
    known = {n for key in SETTING_PATHS for n in env_names(key)} | _NON_SETTING_ENV
    for name in names():
        if name.startswith(ENV_PREFIX) and name not in known:
            log.warning("ignoring %s: not a setting (see newsletter.example.toml)", name)


def sqlite_path(database_url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases / in-memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def check_paths(settings: Settings) -> None:
    """Fail at start, naming the key, when a configured path cannot be used."""
    templates = settings.site.templates_dir
    if templates is not None and not templates.is_dir():
        raise ConfigError(
            f"bad setting 'templates_dir': {templates} is not a directory "
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
