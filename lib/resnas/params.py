"""Notebook parameters: a frozen dataclass per notebook, YAML per profile, validated before anything runs.

Declare fields with `param(default, ge=..., le=..., choices=..., help=...)`. `load_profile(Params, notebook,
profile)` reads `params/<profile>/<notebook>.yaml`, and any unknown key, wrong type or out-of-range value stops
with a one-line `ParamError` that names the file, the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

PROFILES = ("ci", "default", "paper")


class ParamError(ValueError):
    """A parameters file does not fit its notebook's dataclass."""


def param(default, *, ge=None, le=None, choices=None, help: str = ""):
    """A dataclass field with its allowed range. Lists and dicts become default factories (and are frozen
    into tuples on validation)."""
    meta = {"ge": ge, "le": le, "choices": tuple(choices) if choices is not None else None, "help": help}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value, tp, key: str, where: str):
    """Check `value` against the annotation `tp`; return it converted (lists to tuples, ints to floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key, where)
            except ParamError as e:
                errors.append(e)
        raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: {_type_name(tp)}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: a list")
        inner = args[0] if args else typing.Any
        return tuple(_coerce(v, inner, f"{key}[{i}]", where) for i, v in enumerate(value))
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: a mapping")
        return dict(value)
    if tp is typing.Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ParamError(f"{where}: {key}={value!r} has the wrong type; allowed: a string")
        return value
    return value


def _check_range(value, meta: dict, key: str, where: str):
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if v is None:
            continue
        if meta.get("choices") is not None and v not in meta["choices"]:
            allowed = ", ".join(map(str, meta["choices"]))
            raise ParamError(f"{where}: {key}={v!r} is not allowed; allowed: {allowed}")
        lo, hi = meta.get("ge"), meta.get("le")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                rng = f"{lo if lo is not None else '-inf'} to {hi if hi is not None else 'inf'}"
                raise ParamError(f"{where}: {key}={v!r} is out of range; allowed: {rng}")


def validate(cls, values: dict | None, where: str = "parameters"):
    """Build `cls` from a mapping, checking every key, type and range; raise ParamError on the first fault."""
    values = dict(values or {})
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ParamError(f"{where}: unknown key {key!r}; allowed: {', '.join(known)}")
    kwargs = {}
    for key, value in values.items():
        v = _coerce(value, hints[key], key, where)
        _check_range(v, dict(known[key].metadata), key, where)
        kwargs[key] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass __post_init__ cross-check
        raise ParamError(f"{where}: {exc}") from exc


def params_path(notebook: str, profile: str, root: str | Path = "params") -> Path:
    if profile not in PROFILES and not (Path(root) / profile).is_dir():
        raise ParamError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    return Path(root) / profile / f"{notebook}.yaml"


def load_file(cls, path: str | Path, overrides: dict | None = None):
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path}: no such parameters file")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(values, dict):
        raise ParamError(f"{path}: must be a mapping of key: value")
    values.update(overrides or {})
    return validate(cls, values, where=str(path))


def load_profile(cls, notebook: str, profile: str, overrides: dict | None = None, root: str | Path = "params"):
    """The validated parameters of `notebook` on `profile`, with optional overrides on top."""
    return load_file(cls, params_path(notebook, profile, root), overrides)


def to_plain(params) -> dict:
    """A YAML/JSON-ready dict of a params dataclass (tuples as lists)."""

    def plain(v):
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return {k: plain(v) for k, v in dataclasses.asdict(params).items()}


def save(params, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(to_plain(params), sort_keys=False))
