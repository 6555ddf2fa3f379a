"""Full text for highlights: arXiv HTML, then PDF, then the abstract; cached; cut to a budget.

A small HTTP server on 127.0.0.1, written here, stands in for arxiv.org/html and /pdf; the
LaTeXML-like page and the PDF are fixtures made by this file."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pipeline.fetch.fulltext import FullTextFetcher, _cut, estimate_tokens

ABSTRACT = "We study a thing. It works."

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sparse Attention Revisited</title></head>
<body>
<header class="desktop_header"><a href="/">arXiv</a> HEADER-NOISE</header>
<nav class="ltx_page_navbar"><ul><li>NAV-NOISE Introduction</li></ul></nav>
<div class="ltx_page_main"><div class="ltx_page_content">
<article class="ltx_document ltx_authors_1line">
<h1 class="ltx_title ltx_title_document">Sparse Attention Revisited</h1>
<div class="ltx_authors"><span class="ltx_creator ltx_role_author">Zoë Müller</span></div>
<div class="ltx_abstract"><h6 class="ltx_title ltx_title_abstract">Abstract</h6>
<p class="ltx_p">We revisit sparse attention.</p></div>
<section id="S1" class="ltx_section">
<h2 class="ltx_title ltx_title_section"><span class="ltx_tag ltx_tag_section">1 </span
>Introduction</h2>
<div id="S1.p1" class="ltx_para">
<p class="ltx_p">Attention costs <math id="m1" class="ltx_Math" alttext="O(n^{2})"
display="inline"><semantics><mrow><mi>O</mi></mrow><annotation encoding="application/x-tex"
>O(n^{2})</annotation></semantics></math> time<span class="ltx_note ltx_role_footnote"><sup
class="ltx_note_mark">1</sup><span class="ltx_note_outer"><span class="ltx_note_content"
>FOOTNOTE-NOISE</span></span></span> in the length.</p>
</div>
<table id="S1.E1" class="ltx_equation ltx_eqn_table"><tbody><tr class="ltx_equation ltx_eqn_row">
<td class="ltx_eqn_cell"><math id="m2" class="ltx_Math" alttext="a=\\mathrm{softmax}(QK^{\\top})"
display="block"><semantics><mi>a</mi></semantics></math></td>
<td class="ltx_eqn_cell ltx_eqn_eqno"><span class="ltx_tag ltx_tag_equation">(1)</span></td>
</tr></tbody></table>
<figure id="S1.F1" class="ltx_figure"><img src="x1.png" class="ltx_graphics" alt="IMG-NOISE">
<figcaption class="ltx_caption"><span class="ltx_tag ltx_tag_figure">Figure 1: </span
>Speed versus length.</figcaption>
</figure>
<section id="S1.SS1" class="ltx_subsection">
<h3 class="ltx_title ltx_title_subsection">1.1 Contributions</h3>
<ul class="ltx_itemize"><li class="ltx_item"><span class="ltx_tag">•</span>
<div class="ltx_para"><p class="ltx_p">A faster kernel.</p></div></li></ul>
</section>
</section>
<section id="bib" class="ltx_bibliography">
<h2 class="ltx_title ltx_title_bibliography">References</h2>
<ul class="ltx_biblist"><li class="ltx_bibitem">BIB-NOISE Vaswani et al. 2017.</li></ul></section>
</article></div>
<footer class="ltx_page_footer">FOOTER-NOISE</footer></div>
</body></html>"""


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF showing `lines` in Helvetica, with a correct xref table."""
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    for line in lines:
        esc = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({esc}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Server:
    """Serves scripted replies per path (the last reply repeats); unknown paths get 404."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                queue = server.routes.get(self.path)
                reply = (queue.pop(0) if len(queue) > 1 else queue[0]) if queue else Reply(404)
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)


def html(body: str) -> Reply:
    return Reply(200, body.encode("utf-8"), {"content-type": "text/html; charset=utf-8"})


def pdf(lines: list[str]) -> Reply:
    return Reply(200, minimal_pdf(lines), {"content-type": "application/pdf"})


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make(
    server: Server, tmp_path: Path, sleeps: list[float]
) -> Iterator[Callable[..., FullTextFetcher]]:
    clients: list[httpx.Client] = []

    def build(timeout: float = 2.0) -> FullTextFetcher:
        client = httpx.Client(timeout=timeout, trust_env=False)
        clients.append(client)
        return FullTextFetcher(
            client,
            html_base=server.url + "/html",
            pdf_base=server.url + "/pdf/",
            cache_dir=tmp_path / "cache",
            retries=2,
            sleep=sleeps.append,
            rng=random.Random(7),
        )

    yield build
    for client in clients:
        client.close()


def test_html_extraction(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    server.route("/html/2606.00001v2", html(PAGE))
    got = make().fetch("2606.00001", 2, budget_tokens=10_000, fallback=ABSTRACT)
    assert got.source == "html"
    assert not got.truncated and got.note == ""
    assert got.tokens == got.original_tokens == estimate_tokens(got.text)
    assert got.text.split("\n\n") == [
        "Sparse Attention Revisited",
        "Abstract",
        "We revisit sparse attention.",
        "1 Introduction",
        "Attention costs $O(n^{2})$ time in the length.",
        "$$a=\\mathrm{softmax}(QK^{\\top})$$",
        "Figure 1: Speed versus length.",
        "1.1 Contributions",
        "A faster kernel.",
    ]
    assert "NOISE" not in got.text
    assert server.requests == ["/html/2606.00001v2"]


def test_pdf_when_no_html(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    server.route("/pdf/2606.00002v1", pdf(["A PDF-only paper (really).", "Second line."]))
    got = make().fetch("2606.00002", 1, budget_tokens=1000, fallback=ABSTRACT)
    assert got.source == "pdf"
    assert got.text == "A PDF-only paper (really). Second line."
    assert server.requests == ["/html/2606.00002v1", "/pdf/2606.00002v1"]


def test_old_style_id_and_not_a_pdf(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    server.route("/pdf/hep-th/9901001v3", html("<html>not a pdf</html>"))
    got = make().fetch("hep-th/9901001", 3, budget_tokens=1000, fallback=ABSTRACT)
    assert (got.source, got.text) == ("abstract", ABSTRACT)
    assert server.requests == ["/html/hep-th/9901001v3", "/pdf/hep-th/9901001v3"]


def test_abstract_when_neither(
    server: Server,
    make: Callable[..., FullTextFetcher],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pipeline.fetch.fulltext"):
        got = make().fetch("2606.00003", 1, budget_tokens=1000, fallback=ABSTRACT)
    assert (got.source, got.text, got.truncated) == ("abstract", ABSTRACT, False)
    assert got.note == "no HTML or PDF: abstract used"
    assert "html: HTTP 404; pdf: HTTP 404" in caplog.text
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_retries_503_then_serves(
    server: Server, make: Callable[..., FullTextFetcher], sleeps: list[float]
) -> None:
    server.route("/html/2606.00004v1", Reply(503), Reply(502), html(PAGE))
    fetcher = make()
    got = fetcher.fetch("2606.00004", 1, budget_tokens=10_000, fallback=ABSTRACT)
    assert got.source == "html"
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.5 and 1.0 <= sleeps[1] <= 3.0
    assert fetcher.stats["retries"] == 2 and len(server.requests) == 3


def test_429_honours_retry_after(
    server: Server, make: Callable[..., FullTextFetcher], sleeps: list[float]
) -> None:
    server.route("/html/2606.00005v1", Reply(429, headers={"retry-after": "7"}), html(PAGE))
    got = make().fetch("2606.00005", 1, budget_tokens=10_000, fallback=ABSTRACT)
    assert got.source == "html"
    assert len(sleeps) == 1 and 7.0 <= sleeps[0] <= 8.0


def test_timeout_retried_then_gives_up_to_pdf(
    server: Server, make: Callable[..., FullTextFetcher], sleeps: list[float]
) -> None:
    server.route("/html/2606.00006v1", Reply(503))  # always: retries run out
    server.route("/pdf/2606.00006v1", Reply(200, delay=0.3), pdf(["Slow but there."]))
    got = make(timeout=0.1).fetch("2606.00006", 1, budget_tokens=1000, fallback=ABSTRACT)
    assert (got.source, got.text) == ("pdf", "Slow but there.")
    assert server.requests.count("/html/2606.00006v1") == 3
    assert len(sleeps) == 3


def test_cache_makes_rerun_request_free(
    server: Server, make: Callable[..., FullTextFetcher], tmp_path: Path
) -> None:
    server.route("/html/2606.00007v1", html(PAGE))
    first = make().fetch("2606.00007", 1, budget_tokens=10_000, fallback=ABSTRACT)
    assert len(server.requests) == 1
    cached = json.loads((tmp_path / "cache" / "2606.00007v1.json").read_text(encoding="utf-8"))
    assert cached["source"] == "html" and cached["text"] == first.text
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["2606.00007v1.json"]

    again = make()  # a new run, a smaller budget: cut from the cached text
    second = again.fetch("2606.00007", 1, budget_tokens=15, fallback=ABSTRACT)
    assert len(server.requests) == 1 and again.stats == {
        "requests": 0,
        "retries": 0,
        "cache_hits": 1,
    }
    assert second.source == "html" and second.truncated
    assert second.text == "Sparse Attention Revisited\n\nAbstract"


def test_old_style_id_cache_name(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    server.route("/html/math.AG/0101001v1", html(PAGE))
    fetcher = make()
    fetcher.fetch("math.AG/0101001", 1, budget_tokens=100, fallback=ABSTRACT)
    assert (fetcher.cache_dir / "math.AG_0101001v1.json").is_file()


def test_budget_cut_at_paragraph(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    server.route("/html/2606.00008v1", html(PAGE))
    full = make().fetch("2606.00008", 1, budget_tokens=10_000, fallback=ABSTRACT)
    budget = estimate_tokens(full.text) - 5
    got = make().fetch("2606.00008", 1, budget_tokens=budget, fallback=ABSTRACT)
    assert got.truncated and got.tokens <= budget
    assert got.original_tokens == full.tokens
    assert got.text == full.text.rsplit("\n\n", 1)[0]  # the last paragraph is gone, whole
    assert got.note == (
        f"cut from {full.tokens:,} to {got.tokens:,} tokens at a paragraph boundary"
    )


def test_cut_to_budget() -> None:
    paras = ["a" * 40, "b" * 40, "c" * 40]
    assert _cut(paras, 100)[:3] == ("\n\n".join(paras), False, 31)
    assert _cut(paras, 21)[:3] == ("a" * 40 + "\n\n" + "b" * 40, True, 31)
    assert _cut(paras, 20)[:3] == ("a" * 40, True, 31)
    long = "First point, e.g. this one. Second point is here! Third and final sentence."
    text, truncated, original, _ = _cut([long, "more"], 12)
    assert (text, truncated, original) == ("First point, e.g. this one.", True, 21)
    text, truncated, _, _ = _cut(["one long sentence without any end " * 3], 5)
    assert (text, truncated) == ("one long sentence", True)
    with pytest.raises(ValueError):
        _cut(paras, 0)


def test_first_paragraph_over_budget_cut_at_sentence(
    server: Server, make: Callable[..., FullTextFetcher]
) -> None:
    body = "<article class='ltx_document'><p>One two. Three four five six. Seven!</p></article>"
    server.route("/html/2606.00009v1", html(body))
    got = make().fetch("2606.00009", 1, budget_tokens=8, fallback=ABSTRACT)
    assert (got.text, got.truncated, got.tokens, got.original_tokens) == (
        "One two. Three four five six.",
        True,
        8,
        9,
    )
    assert got.note == "cut from 9 to 8 tokens at a sentence boundary"


@pytest.mark.parametrize("bad", ["../../etc/passwd", "2606.001", "http://x/2606.00001", ""])
def test_malformed_id_refused(
    bad: str, server: Server, make: Callable[..., FullTextFetcher]
) -> None:
    got = make().fetch(bad, 1, budget_tokens=100, fallback=ABSTRACT)
    assert (got.source, got.text) == ("abstract", ABSTRACT)
    assert got.note.startswith("not an arXiv id")
    assert server.requests == []


def test_bad_version_refused(server: Server, make: Callable[..., FullTextFetcher]) -> None:
    got = make().fetch("2606.00010", 0, budget_tokens=100, fallback=ABSTRACT)
    assert got.source == "abstract" and server.requests == []
