"""LaTeX shown readably: math segments to Unicode, prose dollars left alone."""

from __future__ import annotations

import pytest

from pipeline.render.latex import readable


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (r"We show $O(n \log n)$ bounds.", "We show O(n log n) bounds."),
        (r"$\mathcal{O}(n^2)$ and $\alpha=0.5$", "𝒪(n²) and α=0.5"),
        (r"$x_{i}^{2}$", "xᵢ²"),
        (r"$\alpha_t$ and $\sum_i x$", "αₜ and ∑ᵢ x"),
        (r"$\mathbb{R}^d$", "ℝᵈ"),
        (r"$10^{-3}$", "10⁻³"),
        (r"$x^{ab}$ $W_{qkv}$ $x^{(n)}_{\theta}$", "xᵃᵇ W_(qkv) x⁽ⁿ⁾_(θ)"),
        (r"$\frac{1}{2}$", "1/2"),
        (r"$\tilde{O}(\sqrt{T})$", "Õ(√(T))"),
        (r"$$E=mc^2$$", "E=mc²"),
        (r"\textbf{bold} 50\% $\sim$3x faster", "bold 50% ∼3x faster"),
        (r"$<$b$>$ & so", "<b> & so"),  # markup-looking output stays text: callers escape it
        ("costs $5 and $10 in total", "costs $5 and $10 in total"),
        ("an unmatched $ sign", "an unmatched $ sign"),
        (r"a \$5 fee", "a $5 fee"),
        ("plain text, untouched", "plain text, untouched"),
    ],
)
def test_readable(source: str, shown: str) -> None:
    assert readable(source) == shown


@pytest.mark.parametrize("broken", [r"$\frac{$ oops", r"$\frac{1}$ x", r"$a}{b$"])
def test_broken_latex_is_left_as_written(broken: str) -> None:
    assert readable(broken) == broken


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("Fig.~3 and Table~2 in Sec.~4.1", "Fig. 3 and Table 2 in Sec. 4.1"),
        (r"et al.~[4] show; see \cite{smith}~for more", "et al. [4] show; see smith for more"),
        ("10~ms, a $x$~step and $a$~$b$", "10 ms, a x step and a b"),
        # A `~` that starts a word means "approximately": it stays.
        ("a ~5% gain (~2x faster), ~3 hours", "a ~5% gain (~2x faster), ~3 hours"),
        # ... and so does every `~` in a URL or after a slash.
        (
            r"at https://x.org/~ann/a~b, www.y.org/p~q, \url{http://z.org/~c} and ~/data",
            "at https://x.org/~ann/a~b, www.y.org/p~q, http://z.org/~c and ~/data",
        ),
    ],
)
def test_ties_become_spaces(source: str, shown: str) -> None:
    assert readable(source) == shown


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        (r"We propose \method, and \ours{} beats it.", "We propose method, and ours beats it."),
        (r"\sysname\ is fast; \model{v2} too", "sysname is fast; v2 too"),
        (r"{\em Adaptive} search \ldots in \LaTeX", "Adaptive search … in LaTeX"),
        (r"\textbf{$O(n)$} and \emph{this}", "O(n) and this"),
        (r"code at \href{https://c.org}{our repo}", "code at our repo"),
        (r"line one \\ line two", "line one   line two"),
        # math is converted as before; math of unknown commands only shows their names
        (r"$\method$ and $\alpha$ vs \alpha, $\,$", r"method and α vs α, $\,$"),
    ],
)
def test_unknown_commands_become_words(source: str, shown: str) -> None:
    assert readable(source) == shown


@pytest.mark.parametrize(
    "source",
    [
        r"\cite{a} \ref{b} \item \cite \ref \label{c} \footnote{d} \url{e} \href{f}{g}",
        r"\c c \v{s} \H o \textasciitilde \# \_ x~y {\bf z} \begin{itemize}",
    ],
)
def test_commands_never_become_markup(source: str) -> None:
    """Text that holds no markup character gets none: pylatexenc renders `\\cite` as
    `<cit.>` and `\\item` as `*`, which a prose command must not turn into."""
    shown = readable(source)
    assert not set(shown) & set("<>*[]`|\\{}"), shown
