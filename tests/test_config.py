"""Settings: defaults < TOML < env < CLI flags; bad values fail with one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.errors import ConfigError

# Settings only: NEWSLETTER_DATABASE_URL is not set for them on the PostgreSQL backend.
pytestmark = pytest.mark.no_database_env


def test_defaults() -> None:
    s = load_settings()
    assert s.categories == ["cs.AI", "cs.LG", "cs.CL", "stat.ML"]
    assert s.database_url == "sqlite:///db/newsletter.sqlite3"
    assert s.arxiv.url == "https://export.arxiv.org/api/query"
    assert s.uses_local_model and s.model_name == "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"
    assert Path("db").is_dir() and Path("out").is_dir()  # created at start


def test_precedence_toml_env_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("newsletter.toml").write_text(
        'highlights = 7\nalso_this_week = 11\ncategories = ["cs.CL"]\n'
        '[llm]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "from-toml"\n'
    )
    s = load_settings()
    assert (s.highlights, s.also_this_week, s.categories) == (7, 11, ["cs.CL"])
    assert s.llm.base_url == "http://127.0.0.1:9/v1" and s.llm.model == "from-toml"
    monkeypatch.setenv("NEWSLETTER_HIGHLIGHTS", "8")
    monkeypatch.setenv("NEWSLETTER_LLM_MODEL", "from-env")
    monkeypatch.setenv("NEWSLETTER_CATEGORIES", "cs.AI stat.ML")
    s = load_settings()
    assert (s.highlights, s.llm.model, s.categories) == (8, "from-env", ["cs.AI", "stat.ML"])
    assert s.also_this_week == 11
    s = load_settings(overrides={"highlights": "9"})
    assert s.highlights == 9 and s.llm.model == "from-env"


def test_explicit_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('exclude_terms = ["quantum", "protein folding"]\n')
    assert load_settings(cfg).exclude_terms == ["quantum", "protein folding"]
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_env_lists_accept_commas_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_INCLUDE_TERMS", "state space models, diffusion")
    monkeypatch.setenv("NEWSLETTER_EXCLUDE_TERMS", '["a b", "c"]')
    s = load_settings()
    assert s.include_terms == ["state space models", "diffusion"]
    assert s.exclude_terms == ["a b", "c"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("highlihgts = 3\n", "unknown setting 'highlihgts'"),
        ("highlights = 'many'\n", "bad setting 'highlights'"),
        ("highlights = 0\n", "bad setting 'highlights'"),
        ("arxiv_url = 'ftp://x'\n", "bad setting 'arxiv_url'"),
        ("database_url = 'not a url'\n", "bad setting 'database_url'"),
        ("categories = []\n", "bad setting 'categories'"),
        ("[llm]\nmodle = 'x'\n", "unknown setting 'llm_modle'"),
        ("highlights = \n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(toml: str, expected: str) -> None:
    Path("newsletter.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_bad_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_ARXIV_DELAY_SECONDS", "soon")
    with pytest.raises(ConfigError, match="arxiv_delay_seconds.*NEWSLETTER_ARXIV_DELAY_SECONDS"):
        load_settings()


def test_unreachable_paths(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="'output_dir'"):
        load_settings(overrides={"output_dir": str(blocker / "out")})
    with pytest.raises(ConfigError, match="'database_url'"):
        load_settings(overrides={"database_url": f"sqlite:///{blocker}/db/x.sqlite3"})


def test_settings_is_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError):
        s.highlights = 3  # type: ignore[misc]


def test_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[1] / "newsletter.example.toml"
    s = load_settings(example)
    assert s.highlights >= 1
    assert s.llm.local_model_file is None  # "" there means the installed default


def test_local_model_file_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LLM_LOCAL_MODEL_FILE", "/models/q.gguf")
    assert load_settings().llm.local_model_file == Path("/models/q.gguf")
    monkeypatch.setenv("NEWSLETTER_LLM_LOCAL_MODEL_FILE", " ")
    assert load_settings().llm.local_model_file is None


def test_unknown_env_variable_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NEWSLETTER_HIGHLIHGTS", "3")
    load_settings()
    assert "ignoring NEWSLETTER_HIGHLIHGTS" in caplog.text
