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
