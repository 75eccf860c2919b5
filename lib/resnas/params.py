"""Notebook parameters: a frozen dataclass per notebook, YAML per profile, validated before anything runs.

Declare fields with `param(default, ge=..., le=..., gt=..., lt=..., choices=..., help=...)`. `load_profile(Params,
notebook, profile)` reads `params/<profile>/<notebook>.yaml`, and any unknown key, duplicate key, wrong type,
out-of-range value (NaN never, infinities only where a field allows them, empty lists only where it allows
them) or broken cross-field rule (a dataclass's `__post_init__`, helped by `require` and `check_val_size`) stops
with a one-line `ParamError` that names the file, the key and what is allowed. Command-line `key=value` overrides
(`parse_overrides`) go through the same checks and are named as overrides in the error.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from pathlib import Path

import yaml

PROFILES = ("ci", "default", "paper")


class ParamError(ValueError):
    """A parameters file does not fit its notebook's dataclass."""


def param(default, *, ge=None, le=None, gt=None, lt=None, choices=None, allow_inf: bool = False,
          min_items: int = 1, help: str = ""):
    """A dataclass field with its allowed range: ge/le inclusive, gt/lt exclusive bounds; choices for strings
    (and every item of a list). NaN is never allowed and +-inf only with `allow_inf`. A list or mapping needs at
    least `min_items` entries (1: an empty list would make a notebook compute nothing, or crash late). Lists and
    dicts become default factories (and are frozen into tuples on validation)."""
    meta = {"ge": ge, "le": le, "gt": gt, "lt": lt, "choices": tuple(choices) if choices is not None else None,
            "allow_inf": allow_inf, "min_items": min_items, "help": help}
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


def describe_range(meta: dict) -> str:
    """The allowed numeric range of a field in words: '1 to 100', '>= 0', '> 0 and < 1'."""
    ge, le, gt, lt = (meta.get(k) for k in ("ge", "le", "gt", "lt"))
    if ge is not None and le is not None:
        return f"{ge} to {le}"
    parts = [f"{op} {v}" for op, v in ((">=", ge), (">", gt), ("<=", le), ("<", lt)) if v is not None]
    return " and ".join(parts) or "any finite number"


def _check_range(value, meta: dict, key: str, where: str):
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if v is None:
            continue
        if meta.get("choices") is not None and v not in meta["choices"]:
            allowed = ", ".join(map(str, meta["choices"]))
            raise ParamError(f"{where}: {key}={v!r} is not allowed; allowed: {allowed}")
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        rng = describe_range(meta)
        if math.isnan(v):  # every comparison with NaN is False: it would pass any bound below
            raise ParamError(f"{where}: {key}=nan is not a number; allowed: {rng}")
        if math.isinf(v) and not meta.get("allow_inf"):
            raise ParamError(f"{where}: {key}={v!r} is infinite; allowed: a finite number, {rng}")
        lo, hi, lo_x, hi_x = (meta.get(k) for k in ("ge", "le", "gt", "lt"))
        if ((lo is not None and v < lo) or (hi is not None and v > hi) or (lo_x is not None and v <= lo_x)
                or (hi_x is not None and v >= hi_x)):
            raise ParamError(f"{where}: {key}={v!r} is out of range; allowed: {rng}")


def _check_size(value, meta: dict, key: str, where: str):
    need = meta.get("min_items", 0)
    if isinstance(value, (tuple, dict)) and len(value) < need:
        choices = meta.get("choices")
        what = f"of {', '.join(map(str, choices))}" if choices else "entry" if need == 1 else "entries"
        raise ParamError(f"{where}: {key} is empty; allowed: at least {need} {what}")


def validate(cls, values: dict | None, where: str = "parameters", origins: dict | None = None):
    """Build `cls` from a mapping, checking every key, type and range, then the class's cross-field rules;
    raise ParamError on the first fault. `origins` names, per key, where a value came from when not `where`
    (a command-line override)."""
    values = dict(values or {})
    origins = origins or {}
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ParamError(f"{origins.get(key, where)}: unknown key {key!r}; allowed: {', '.join(known)}")
    kwargs = {}
    for key, value in values.items():
        at = origins.get(key, where)
        v = _coerce(value, hints[key], key, at)
        meta = dict(known[key].metadata)
        _check_size(v, meta, key, at)
        _check_range(v, meta, key, at)
        kwargs[key] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a dataclass __post_init__ cross-check
        overridden = sorted(k for k in values if k in origins)
        suffix = f" (with overrides {', '.join(overridden)})" if overridden else ""
        raise ParamError(f"{where}{suffix}: {exc}") from exc


# ------------------------------------------------------------------------------------------ cross-field rules
# Training-set sizes (the split validation images are taken from) of each data set of `resnas.data`: digits is
# scikit-learn's 1,797 less the fixed 20% test hold-out (355), EuroSAT 27,000 less its 20% hold-out, Adult the
# rows of adult.data. `test_params` checks digits against the loader and the keys against `DATASETS`.
TRAIN_SIZES = {"digits": 1442, "fashion_mnist": 60000, "mnist": 60000, "cifar10": 50000, "cifar100": 50000,
               "svhn": 73257, "eurosat": 21600, "adult": 32561, "fashion_mnist_14": 60000}


def require(ok: bool, message: str) -> None:
    """A cross-field rule for a Params `__post_init__`: `message` names the keys and what is allowed."""
    if not ok:
        raise ValueError(message)


def check_low_lr_epochs(low_lr_epochs: int, epochs: int) -> None:
    """The era_search schedule's last `low_lr_epochs` run at lr/10: at least one epoch must come before them."""
    require(low_lr_epochs < epochs, f"low_lr_epochs={low_lr_epochs} must be below epochs={epochs} (the last epochs "
                                    f"run at lr/10); allowed: 0 to {epochs - 1}")


def check_val_size(val_size: float, dataset: str) -> None:
    """val_size is a fraction in (0, 1) or a whole count of images, and must leave training images: the same
    arithmetic as `resnas.data.split_indices`, done before anything is loaded."""
    n = TRAIN_SIZES.get(dataset)
    allowed = "a fraction in (0, 1) or a whole count" + (f" from 1 to {n - 1}" if n else " >= 1")
    require(0 < val_size < 1 or float(val_size).is_integer(),
            f"val_size={val_size:g} is neither a fraction below 1 nor a whole count; allowed: {allowed}")
    if n is None:  # a data set without a known size: `split_indices` still checks at load time
        return
    n_val = int(round(val_size * n)) if val_size < 1 else int(val_size)
    require(0 < n_val < n, f"val_size={val_size:g} holds out {n_val} of the {n} training images of "
                           f"dataset={dataset!r}, leaving {'none' if n_val >= n else 'all'}; allowed: {allowed}")


def params_path(notebook: str, profile: str, root: str | Path = "params") -> Path:
    if profile not in PROFILES and not (Path(root) / profile).is_dir():
        raise ParamError(f"profile={profile!r} is unknown; allowed: {', '.join(PROFILES)}")
    return Path(root) / profile / f"{notebook}.yaml"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps the last one
    silently), and `1e-3` is a number (YAML 1.1 wants `1.0e-3`; PyYAML would read a string)."""

    yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` merges are not duplicates
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first_line:
                        raise DuplicateKey(key, first_line[key], line)
                    first_line[key] = line
                except TypeError:  # an unhashable key: PyYAML reports it below
                    continue
        return super().construct_mapping(node, deep=deep)


# A copy of the resolver lists above (not the shared ones), so this adds to _Loader only.
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


class DuplicateKey(yaml.YAMLError):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"key {key!r} appears twice, on lines {first} and {again}; keep one")
        self.key, self.first, self.again = key, first, again


def parse_yaml(text: str, where: str):
    """The YAML document in `text` (None when empty), or a one-line ParamError naming `where`, the line and the
    column of a syntax error, or a duplicated key and both its lines."""
    try:
        return yaml.load(text, Loader=_Loader)
    except DuplicateKey as exc:
        raise ParamError(f"{where}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise ParamError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        context = f" ({exc.context})" if getattr(exc, "context", None) else ""
        raise ParamError(f"{where}: not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
                         f"{exc.problem}{context}") from exc


def load_file(cls, path: str | Path, overrides: dict | None = None):
    """The validated parameters in `path`, with `overrides` (e.g. from `parse_overrides`) on top. An empty or
    comment-only file is an error, not 'every default': a file emptied by mistake would otherwise turn the ci
    profile into the full default study. Write `{}` to take every default on purpose."""
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path}: no such parameters file")
    values = parse_yaml(path.read_text(), str(path))
    if values is None:
        raise ParamError(f"{path}: is empty; write at least one key, or `{{}}` to take every default")
    if not isinstance(values, dict):
        raise ParamError(f"{path}: must be a mapping of key: value")
    overrides = dict(overrides or {})
    origins = {key: f"{path} (override)" for key in overrides}
    return validate(cls, {**values, **overrides}, where=str(path), origins=origins)


def load_profile(cls, notebook: str, profile: str, overrides: dict | None = None, root: str | Path = "params"):
    """The validated parameters of `notebook` on `profile`, with optional overrides on top."""
    return load_file(cls, params_path(notebook, profile, root), overrides)


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def to_plain(params) -> dict:
    """A YAML/JSON-ready dict of a params dataclass (tuples as lists)."""
    return {k: _plain(v) for k, v in dataclasses.asdict(params).items()}


def save(params, path: str | Path) -> None:
    """Write the resolved parameters (overrides included) as YAML, atomically: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(yaml.safe_dump(to_plain(params), sort_keys=False))
    os.replace(tmp, path)


_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_overrides(items: list[str]) -> dict:
    """Command-line `key=value` items as a dict, each value read as YAML (`epochs=5` an int, `seeds=[0,1]` a
    list, `train_per_class=null` None, `dataset=digits` a string). A malformed item, an empty value or a key
    given twice is a ParamError naming the item. The values are checked later, by `load_file`/`validate`."""
    out: dict = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not _KEY.match(key):
            raise ParamError(f"override {item!r} is malformed; allowed: key=value, e.g. epochs=5 or seeds=[0,1]")
        if not text.strip():
            raise ParamError(f"override {item!r} has no value; allowed: key=value (write {key}=null for none)")
        if key in out:
            raise ParamError(f"override {item!r}: {key} is given twice; keep one")
        out[key] = parse_yaml(text, f"override {item!r}")
    return out


def check_summary(params, label: str | None = None, show: int = 5) -> str:
    """One line saying what was checked: '<label>: 22 keys valid — dataset=digits, epochs=1, ...', listing
    the first `show` values that differ from the class's defaults (what the file or an override chose)."""
    plain = to_plain(params)
    defaults = {f.name: _plain(f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(params)}
    chosen = [f"{k}={_short(v)}" for k, v in plain.items() if v != defaults[k]]
    more = f", +{len(chosen) - show} more" if len(chosen) > show else ""
    what = ", ".join(chosen[:show]) + more if chosen else "every value its default"
    return f"{label or type(params).__name__}: {len(plain)} keys valid — {what}"


def _short(v) -> str:
    """A value as it would be typed: [0, 1], null, true; long ones cut."""
    text = yaml.safe_dump(v, default_flow_style=True, width=10**6).removesuffix("\n").removesuffix("\n...")
    return text if len(text) <= 24 else text[:21] + "..."
