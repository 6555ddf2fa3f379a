"""A week's kept papers for the reader's own tools: BibTeX, and Markdown notes with YAML
front matter (one file per paper, for a notes vault). Paper text is untrusted: it is
escaped so that it can never end a field, start an entry or become markup."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Engine

from pipeline.render.files import md_escape, write_atomic
from pipeline.render.latex import readable
from pipeline.store import editor
from pipeline.store.models import Candidate, Paper

_BIB_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}
_BIB_RE = re.compile("|".join(re.escape(k) for k in _BIB_SPECIAL))


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def bib_escape(text: str) -> str:
    """Plain text as a BibTeX field value: LaTeX made readable, then every special escaped
    (so braces always balance: nothing can close the field)."""
    return _BIB_RE.sub(lambda m: _BIB_SPECIAL[m.group(0)], one_line(readable(text)))


def _bib_name(name: str) -> str:
    escaped = bib_escape(name)
    # " and " inside one name would split it into two authors: keep it whole.
    return f"{{{escaped}}}" if re.search(r"\band\b", escaped, re.IGNORECASE) else escaped


def bib_key(paper_id: str) -> str:
    return "arXiv_" + re.sub(r"[^A-Za-z0-9]", "_", paper_id)


def _bib_entry(c: Candidate, p: Paper) -> str:
    fields = [
        ("title", bib_escape(p.title)),
        ("author", " and ".join(_bib_name(a) for a in p.authors)),
        ("year", str(p.published.year)),
        ("eprint", bib_escape(p.id)),
        ("archivePrefix", "arXiv"),
        ("primaryClass", bib_escape(p.primary_category)),
        ("url", f"https://arxiv.org/abs/{p.id}v{c.version}"),
    ]
    if p.doi:
        fields.append(("doi", bib_escape(p.doi)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{bib_key(p.id)},\n{body}\n}}\n"


def bibtex(engine: Engine, week: str) -> str:
    """The week's kept papers as BibTeX @misc entries, best ranked first ("" if none)."""
    return "\n".join(_bib_entry(c, p) for c, p in editor.kept_papers(engine, week))


def yaml_string(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escaping, all ASCII: no line break, no quote or
    colon can end it)."""
    return json.dumps(one_line(text), ensure_ascii=True)


def note_name(paper_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", paper_id) + ".md"


def _note(week: str, c: Candidate, p: Paper) -> str:
    front = [
        ("title", yaml_string(readable(p.title))),
        ("arxiv", yaml_string(p.id)),
        ("version", str(c.version)),
        ("week", yaml_string(week)),
        ("published", yaml_string(p.published.date().isoformat())),
        ("categories", "[" + ", ".join(yaml_string(x) for x in p.categories) + "]"),
        ("authors", "[" + ", ".join(yaml_string(a) for a in p.authors) + "]"),
        ("url", yaml_string(f"https://arxiv.org/abs/{p.id}v{c.version}")),
        ("pdf", yaml_string(f"https://arxiv.org/pdf/{p.id}v{c.version}")),
    ]
    lines = ["---", *(f"{k}: {v}" for k, v in front), "---", ""]
    lines += [f"# {md_escape(readable(p.title))}", ""]
    lines += [md_escape(", ".join(p.authors)), ""]
    lines += [md_escape(readable(p.abstract)), ""]
    lines += [f"<https://arxiv.org/abs/{p.id}v{c.version}>", ""]
    return "\n".join(lines)


def markdown_notes(engine: Engine, week: str, directory: Path) -> list[Path]:
    """One Markdown note per kept paper of the week in `directory` (made if needed);
    returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for c, p in editor.kept_papers(engine, week):
        path = directory / note_name(p.id)
        write_atomic(path, _note(week, c, p))
        paths.append(path)
    return paths
