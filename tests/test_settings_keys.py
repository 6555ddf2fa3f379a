"""Every documented settings key still loads, into the nested field it maps to.

The documented keys are read from newsletter.example.toml (set or commented out, top level
or in a [table]) and from README's settings table; each is loaded from a TOML file in its
flat form (`llm_base_url = ...`), in its documented table form (`[llm] base_url = ...`), and
from each of its environment variables (NEWSLETTER_LLM_BASE_URL). `SAMPLES` below says, for
every key, where its value must land and a value different from the default.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import SETTING_PATHS, Settings, env_names, load_settings
from pipeline.env import SECRETS
from pipeline.errors import ConfigError

# Settings only: NEWSLETTER_DATABASE_URL is not set for them on the PostgreSQL backend.
pytestmark = pytest.mark.no_database_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "newsletter.example.toml"

# flat key -> (its place in Settings, a valid value that is not the default)
SAMPLES: dict[str, tuple[str, Any]] = {
    "categories": ("categories", ["cs.CV", "math.OC"]),
    "include_terms": ("include_terms", ["diffusion", "state space"]),
    "exclude_terms": ("exclude_terms", ["quantum"]),
    "followed_authors": ("followed_authors", ["Ada Lovelace", "Alan Turing"]),
    "seed_papers": ("seed_papers", ["2406.07394"]),
    "interest_description": ("interest_description", "graph neural networks"),
    "highlights": ("highlights", 7),
    "diversity": ("diversity", 0.4),
    "rank_llm_top_k": ("rank_llm_top_k", 12),
    "also_this_week": ("also_this_week", 11),
    "output_dir": ("output_dir", "out2"),
    "templates_dir": ("site.templates_dir", "my-templates"),
    "list_id": ("smtp.list_id", "News <news.example.org>"),
    "approval": ("desk.approval", "required"),
    "editor_email": ("desk.editor_email", "editor@example.org"),
    "log_file": ("log_file", ""),
    "public_url": ("site.public_url", "https://example.org/news/"),
    "database_url": ("database_url", "sqlite:///db2/news.sqlite3"),
    "cache_dir": ("cache_dir", "cache2"),
    "arxiv_url": ("arxiv.url", "http://127.0.0.1:9/api/query"),
    "arxiv_delay_seconds": ("arxiv.delay_seconds", 0.5),
    "arxiv_page_size": ("arxiv.page_size", 200),
    "arxiv_retries": ("arxiv.retries", 2),
    "arxiv_timeout_seconds": ("arxiv.timeout_seconds", 9.5),
    "fetch_overlap_hours": ("arxiv.overlap_hours", 24),
    "llm_base_url": ("llm.base_url", "http://127.0.0.1:9/v1"),
    "llm_model": ("llm.model", "qwen-test"),
    "llm_temperature": ("llm.temperature", 0.7),
    "llm_max_tokens": ("llm.max_tokens", 640),
    "llm_timeout_seconds": ("llm.timeout_seconds", 30.5),
    "llm_concurrency": ("llm.concurrency", 3),
    "llm_threads": ("llm.threads", 2),
    "llm_local_model_file": ("llm.local_model_file", "/models/q.gguf"),
    "llm_retries": ("llm.retries", 1),
    "llm_prices": ("llm.prices", {"my-model": [0.5, 1.5]}),
    "summaries_full_text": ("summaries.full_text", True),
    "summaries_full_text_tokens": ("summaries.full_text_tokens", 900),
    "summaries_oneliners": ("summaries.oneliners", "off"),
    "fulltext_html_url": ("fulltext.html_url", "http://127.0.0.1:9/html"),
    "fulltext_pdf_url": ("fulltext.pdf_url", "http://127.0.0.1:9/pdf"),
    "embedding_base_url": ("embedding.base_url", "http://127.0.0.1:9/v1"),
    "embedding_model": ("embedding.model", "nomic-embed"),
    "newsletter_title": ("site.title", "Robot news"),
    "podcast_narration": ("podcast.narration", "on"),
    "podcast_words_per_minute": ("podcast.words_per_minute", 170),
    "podcast_tts": ("podcast.tts", "espeak"),
    "podcast_tts_base_url": ("podcast.tts_base_url", "http://127.0.0.1:9/v1"),
    "podcast_tts_model": ("podcast.tts_model", "tts-2"),
    "podcast_tts_voice": ("podcast.tts_voice", "nova"),
    "podcast_piper_voice": ("podcast.piper_voice", "en_US-other-medium"),
    "podcast_espeak_voice": ("podcast.espeak_voice", "en-gb"),
    "podcast_replacements": ("podcast.replacements", {"RLHF": "R L H F"}),
    "schedule_cron": ("schedule.cron", "30 6 * * tue"),
    "schedule_timezone": ("schedule.timezone", "Europe/Berlin"),
    "schedule_grace_hours": ("schedule.grace_hours", 12),
    "schedule_send": ("schedule.send", True),
    "smtp_host": ("smtp.host", "mail.example.org"),
    "smtp_port": ("smtp.port", 587),
    "smtp_tls": ("smtp.tls", "starttls"),
    "smtp_user": ("smtp.user", "news"),
    "smtp_from": ("smtp.from_address", "AI papers <news@example.org>"),
    "smtp_rate": ("smtp.rate", 2.5),
    "smtp_retries": ("smtp.retries", 5),
    "smtp_workers": ("smtp.workers", 4),
    "smtp_timeout_seconds": ("smtp.timeout_seconds", 12.5),
}


def documented_forms() -> dict[str, list[tuple[str, str]]]:
    """Flat key -> the (table, key) forms newsletter.example.toml shows it in."""
    forms: dict[str, list[tuple[str, str]]] = {}
    table = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if header := re.fullmatch(r"\[([a-z_.]+)\]\s*(#.*)?", line.strip()):
            table = header[1]
            flat = table.replace(".", "_")
            if flat in SETTING_PATHS:  # a table that is one setting: [llm.prices]
                forms.setdefault(flat, []).append((table, ""))
        elif key := re.match(r"#?\s*([a-z_]+)\s*=", line):
            flat = f"{table.replace('.', '_')}_{key[1]}" if table else key[1]
            if table.replace(".", "_") not in SETTING_PATHS:
                forms.setdefault(flat, []).append((table, key[1]))
    return forms


def readme_keys() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m.lower() for m in re.findall(r"^\| `NEWSLETTER_([A-Z_]+)` \|", text, re.M)}


DOCUMENTED = documented_forms()


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings (JSON escapes are TOML's), numbers


def env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def nested(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


def assert_landed(settings: Settings, key: str) -> None:
    path, value = SAMPLES[key]
    got = nested(settings, path)
    if isinstance(value, dict):  # tables are merged over built-ins
        got = {k: list(v) if isinstance(v, tuple) else v for k, v in got.items()}
        assert value.items() <= got.items(), key
    else:
        assert (str(got) if isinstance(got, Path) else got) == value, key


@pytest.fixture(autouse=True)
def templates_dir() -> None:
    Path(SAMPLES["templates_dir"][1]).mkdir()  # a templates_dir must exist


def test_every_setting_is_documented_and_sampled() -> None:
    assert set(SETTING_PATHS) == set(SAMPLES), "a key without a sample above, or a stale one"
    undocumented = set(SETTING_PATHS) - set(DOCUMENTED)
    assert not undocumented, f"document these in newsletter.example.toml: {undocumented}"
    unknown = (set(DOCUMENTED) | readme_keys()) - set(SETTING_PATHS)
    assert not unknown, f"documented but not settings: {unknown}"


def test_the_mapping_covers_every_nested_field_once() -> None:
    leaves = [
        f"{name}.{sub}" if hasattr(field.annotation, "model_fields") else name
        for name, field in Settings.model_fields.items()
        for sub in (getattr(field.annotation, "model_fields", None) or [""])
    ]
    assert sorted(leaves) == sorted(SETTING_PATHS.values())
    assert {key: path for key, (path, _) in SAMPLES.items()} == SETTING_PATHS
    defaults = Settings()
    for key, (path, value) in SAMPLES.items():
        assert nested(defaults, path) != value, f"{key}: the sample is the default"


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_key_loads_from_flat_toml(key: str) -> None:
    Path("flat.toml").write_text(f"{key} = {toml_value(SAMPLES[key][1])}\n", encoding="utf-8")
    assert_landed(load_settings(Path("flat.toml")), key)


@pytest.mark.parametrize("key", sorted(DOCUMENTED))
def test_key_loads_from_its_documented_table(key: str) -> None:
    value = SAMPLES[key][1]
    for table, sub in DOCUMENTED[key]:
        if not sub:  # [llm.prices] "my-model" = [...]
            body = "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in value.items())
            text = f"[{table}]\n{body}"
        else:
            text = (f"[{table}]\n" if table else "") + f"{sub} = {toml_value(value)}\n"
        Path("table.toml").write_text(text, encoding="utf-8")
        assert_landed(load_settings(Path("table.toml")), key)


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_key_loads_from_each_env_variable(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names(key):
        with monkeypatch.context() as env:
            env.setenv(name, env_value(SAMPLES[key][1]))
            assert_landed(load_settings(), key)


def test_the_from_address_keeps_its_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_names("smtp_from") == ["NEWSLETTER_SMTP_FROM", "NEWSLETTER_FROM"]
    Path("newsletter.toml").write_text('newsletter_from = "a@example.org"\n', encoding="utf-8")
    assert load_settings().smtp.from_address == "a@example.org"
    monkeypatch.setenv("NEWSLETTER_FROM", "b@example.org")
    assert load_settings().smtp.from_address == "b@example.org"
    monkeypatch.setenv("NEWSLETTER_SMTP_FROM", "c@example.org")  # the key's own name wins
    assert load_settings().smtp.from_address == "c@example.org"
    assert load_settings(overrides={"smtp_from": "d@example.org"}).smtp.from_address == (
        "d@example.org"
    )


def test_errors_name_the_flat_key_of_a_nested_setting() -> None:
    Path("newsletter.toml").write_text('[site]\ntitle = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'site_title'"):
        load_settings()
    Path("newsletter.toml").unlink()
    with pytest.raises(
        ConfigError, match=r"bad setting 'public_url' \(env NEWSLETTER_PUBLIC_URL\)"
    ):
        load_settings(overrides={"public_url": "example.org"})
    with pytest.raises(ConfigError, match="bad setting 'fetch_overlap_hours'"):
        load_settings(overrides={"fetch_overlap_hours": -1})


def test_with_values_changes_flat_keys_and_validates() -> None:
    s = load_settings()
    changed = s.with_values({"newsletter_title": "Other", "smtp_port": "2525"})
    assert (changed.site.title, changed.smtp.port, s.site.title) == (
        "Other",
        2525,
        "AI paper summaries",
    )
    assert changed.flat() == {**s.flat(), "newsletter_title": "Other", "smtp_port": 2525}
    with pytest.raises(ConfigError, match="bad setting 'smtp_port'"):
        s.with_values({"smtp_port": 0})


def test_secrets_are_read_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {name: f"sekrit-{i}-0123456789abcdef" for i, name in enumerate(SECRETS)}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    s = load_settings()
    dumps = [repr(s), s.model_dump_json(), json.dumps(s.flat(), default=str)]
    assert not [v for v in values.values() for d in dumps if v in d]
    for key in ("smtp_password", "secret_key", "openai_api_key"):
        with pytest.raises(ConfigError, match=f"'{key}' is a secret"):
            load_settings(overrides={key: "x"})
    Path("newsletter.toml").write_text('[smtp]\npassword = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="'smtp_password' is a secret"):
        load_settings()


def test_only_env_py_reads_the_environment_and_its_secrets() -> None:
    readers = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        if path.name == "env.py" and path.parent.name == "pipeline":
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bos\.environ\b|\bgetenv\(|\b_secret\b|import environ\b", text):
            readers.append(str(path.relative_to(ROOT)))
    assert readers == []
