"""What every search space offers: the interface the strategies in `resnas.search` and the evaluator use.

A space is an object; a configuration (a *genome*) is a frozen, hashable value the space hands out and takes
back. Strategies never look inside a configuration: they see it only through the methods below, so random
search, local search, Bayesian optimisation and the evolutions run unchanged on the ERA ResNets and on the
cell spaces (`resnas.spaces.cells`).

Two views of a configuration:
- the configuration itself (what `sample`, `mutate`, `crossover`, `neighbours` and `build` take and return);
- its *flat form*, a dict parameter name -> value with the keys and allowed values of `choices()`. Every
  value is a JSON scalar (str, int, float, bool), so a model-based strategy (Optuna's TPE) can propose one
  value per parameter and `unflat` turns any such proposal into a valid configuration. Parameters named by
  `ordinal()` take consecutive integers where neighbouring values mean similar networks (a model may treat
  them as numbers); every other parameter is categorical.

Rules every space keeps (tests check them on each space):
- `unflat(flat(c)) == c` for every configuration `c` the space hands out (its canonical form);
- `sample`, `mutate`, `crossover`, `neighbours` and `unflat` return valid configurations in canonical form,
  and depend on randomness only through the generator passed in (the same seed gives the same trajectory);
- `from_json(to_json(c)) == c`, and `to_json` is canonical (equal configurations give equal text), because
  the evaluator's archive key hashes it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Hashable, Mapping, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # the interface itself needs no torch
    from torch import nn

Config = TypeVar("Config", bound=Hashable)
Scalar = str | int | float | bool


@runtime_checkable
class SearchSpace(Protocol[Config]):
    """The public interface of a search space (structural: a space need not inherit from this class)."""

    name: str  # the registry name (`resnas.spaces.get_space`) and the archive's space key

    def choices(self) -> dict[str, tuple[Scalar, ...]]:
        """Every parameter of the flat form and its allowed values, in a fixed order."""
        ...

    def ordinal(self) -> tuple[str, ...]:
        """Parameters whose values are consecutive integers with a meaningful order (may be empty)."""
        ...

    def flat(self, config: Config) -> dict[str, Scalar]:
        """The flat form: one value per parameter of `choices()`."""
        ...

    def unflat(self, flat: Mapping[str, Any]) -> Config:
        """The configuration (canonical) of a flat form; any combination of allowed values is valid."""
        ...

    def sample(self, rng: np.random.Generator) -> Config:
        """A random configuration (each space documents its distribution)."""
        ...

    def mutate(self, config: Config, rng: np.random.Generator) -> Config:
        """A random variation of `config`; different from it whenever the space has more than one point."""
        ...

    def crossover(self, a: Config, b: Config, rng: np.random.Generator) -> Config:
        """A child taking each part (parameter, row, block) from one of the two parents."""
        ...

    def neighbours(self, config: Config) -> list[Config]:
        """The local-search neighbourhood of `config` (deterministic, without `config` itself)."""
        ...

    def to_json(self, config: Config) -> str:
        """Canonical JSON text of `config`."""
        ...

    def from_json(self, text: str) -> Config:
        """The configuration `to_json` wrote."""
        ...

    def build(self, config: Config, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
        """A freshly initialised network of `config` (reads images of `in_channels` channels)."""
        ...

    def size(self) -> int:
        """Number of configurations in the space (flat forms; a space documents whether some coincide)."""
        ...


INTERFACE = ("name", "choices", "ordinal", "flat", "unflat", "sample", "mutate", "crossover", "neighbours",
             "to_json", "from_json", "build", "size")


def missing_methods(space) -> list[str]:
    """The members of the interface that `space` lacks (empty when it offers them all)."""
    return [m for m in INTERFACE if not hasattr(space, m)]
