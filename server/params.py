"""Params of custom methods and pushed settings arrive from pygls as namedtuples
(or dicts); these read them the same way either way."""

from __future__ import annotations


def param(params, name: str, default=None):
    """One field of a request's params."""
    if params is None:
        return default
    if isinstance(params, dict):
        return params.get(name, default)
    return getattr(params, name, default)


def as_dict(obj):
    """Namedtuples (nested, in lists too) as plain dicts; anything else as it is."""
    if hasattr(obj, "_asdict"):
        return {k: as_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list):
        return [as_dict(v) for v in obj]
    return obj
