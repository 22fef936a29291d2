"""The architectures the pedal can build, each registered by its own module (as
NeuralAmpModelerCore's NAM/registry.h): a name, the Model class, and the functions that
state a config's weight shapes and cost from its numbers alone."""
from typing import Callable, NamedTuple

from firmware.core.errors import ModelConfigError


class Architecture(NamedTuple):
    name: str
    model: type                 # Model subclass: model(config, weights, sample_rate, max_block)
    weight_shapes: Callable     # weight_shapes(config) -> {name: shape}
    cost: Callable              # cost(config, max_block, sample_rate) -> base.Cost


_REGISTRY = {}


def register(name, model, weight_shapes, cost):
    """Called once by each architecture's module when it is imported."""
    if name in _REGISTRY:
        raise ValueError(f"architecture {name!r} registered twice")
    _REGISTRY[name] = Architecture(name, model, weight_shapes, cost)
    return _REGISTRY[name]


def get(name):
    """The Architecture called `name`, or ModelConfigError listing the known ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ModelConfigError(f"unknown architecture {name!r} (known: {', '.join(names())})") from None


def names():
    """The registered architectures, in registration order."""
    return tuple(_REGISTRY)
