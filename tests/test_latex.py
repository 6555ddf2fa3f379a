"""LaTeX shown readably: math segments to Unicode, prose dollars left alone."""

from __future__ import annotations

import pytest

from pipeline.latex import readable


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
