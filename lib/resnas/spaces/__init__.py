"""Search spaces. Each space module offers a frozen configuration type and `build(config, in_channels,
num_classes) -> nn.Module`; the registry lets the evaluator rebuild a network from (space name, JSON)."""
from __future__ import annotations

import importlib

# name -> module path; each module defines `SPACE` with `.from_json(str)`, `.to_json(cfg)`,
# `.build(cfg, in_channels, num_classes)`.
_REGISTRY = {
    "era": "resnas.spaces.era",
    "moresnet": "resnas.spaces.moresnet",
}


def get_space(name: str):
    """Return the default space object registered under `name`."""
    if name not in _REGISTRY:
        raise ValueError(f"space={name!r} is unknown; allowed: {sorted(_REGISTRY)}")
    return importlib.import_module(_REGISTRY[name]).SPACE
