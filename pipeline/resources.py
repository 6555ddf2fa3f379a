"""Where the bundled prompts, templates, migrations and demo data live.

In a checkout (editable install) they are the top-level folders; in a wheel
they are packed under `pipeline/_data/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_LOCATIONS = {
    "prompts": ("prompts",),
    "templates": ("templates",),
    "migrations": ("db", "migrations"),
}


def resource_dir(name: str) -> Path:
    parts = _LOCATIONS[name]
    in_checkout = _PACKAGE.parent.joinpath(*parts)
    if in_checkout.is_dir():
        return in_checkout
    packed = _PACKAGE / "_data" / parts[-1]
    if packed.is_dir():
        return packed
    raise FileNotFoundError(f"bundled {name} not found at {in_checkout} or {packed}")


def packaged_file(module: str, relative: str, what: str, hint: str) -> Path:
    """A data file shipped inside an installed package, found without importing it (some
    such packages import heavy or absent dependencies on import). Raises LLMConfigError
    with `hint` when the package or the file is missing."""
    import importlib.util

    from pipeline.errors import LLMConfigError

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise LLMConfigError(f"{what} not found: {hint}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise LLMConfigError(f"{what} missing at {path}: {hint}")
    return path
