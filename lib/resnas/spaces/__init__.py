"""Search spaces. Each space module offers a frozen configuration type and a space object; what a space
offers to the strategies and the evaluator (choices, flat and unflat forms, sample, mutate, crossover,
neighbours, JSON, `build(config, in_channels, num_classes) -> nn.Module`, size) is the `SearchSpace` interface
documented in `resnas.spaces.base`. The registry lets the evaluator rebuild a network from (space name, JSON)."""
from __future__ import annotations

import importlib

from resnas.spaces.base import SearchSpace, missing_methods  # noqa: F401  (the public interface)

# name -> "module:attribute" of a space object with `.from_json(str)`, `.to_json(cfg)` and
# `.build(cfg, in_channels, num_classes)`. MO-ResNet presets differ in how a genome is built (stem, ranges,
# image size), so each is a space of its own name and the archive key tells them apart.
_REGISTRY = {
    "era": "resnas.spaces.era:SPACE",
    "moresnet": "resnas.spaces.moresnet:SPACE",
    "moresnet_small": "resnas.spaces.moresnet:SMALL",
    "moresnet_mnist": "resnas.spaces.moresnet:MNIST",
    "moresnet_cifar100": "resnas.spaces.moresnet:CIFAR100",
    # cell spaces (tables of operations on edges); *_small presets build networks a CPU trains
    "nb201": "resnas.spaces.cells:NB201",
    "nb201_small": "resnas.spaces.cells:NB201_SMALL",
    "darts": "resnas.spaces.cells:DARTS",
    "darts_small": "resnas.spaces.cells:DARTS_SMALL",
}


def get_space(name: str):
    """Return the space object registered under `name`."""
    if name not in _REGISTRY:
        raise ValueError(f"space={name!r} is unknown; allowed: {sorted(_REGISTRY)}")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)
