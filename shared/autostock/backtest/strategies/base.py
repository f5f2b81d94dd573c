"""The strategy API: declared parameters, vectorised targets, a registry by name or module path.

A strategy is a class with a `name`, a tuple of `Param`s and a `targets` method. Given bars it
returns, for every bar, the fraction of equity (0..1) it wants to hold after that bar's close;
the engine fills the changes at the next open. `targets` sees every bar at once (fast), so it
must only use values up to each bar: the no-lookahead test runs every registered strategy.

A single-symbol strategy takes `Bars`; a portfolio strategy (`universe = True`) takes a
`Panel` and returns a (bars × symbols) matrix of weights summing to at most 1 per row.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from autostock.errors import ValidationError

_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class Param:
    """One tunable parameter: its type, default and the range an optimiser may search."""

    name: str
    type: str = "int"
    default: Any = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    def check(self, value: Any) -> Any:
        kind = _TYPES[self.type]
        if self.type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise ValidationError(f"parameter {self.name} must be of type {self.type}, was {value!r}",
                                  code="invalid_parameter", details={"parameter": self.name})
        if self.choices and value not in self.choices:
            raise ValidationError(f"parameter {self.name} must be one of {list(self.choices)}",
                                  code="invalid_parameter", details={"parameter": self.name})
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise ValidationError(f"parameter {self.name} must be within {self.low}..{self.high}, was {value}",
                                  code="invalid_parameter", details={"parameter": self.name})
        return value

    def grid(self) -> list[Any]:
        """Every value an exhaustive search tries (the choices, or low..high by step)."""
        if self.choices:
            return list(self.choices)
        if self.type == "bool":
            return [False, True]
        if self.low is None or self.high is None:
            return [self.default]
        step = self.step or (1 if self.type == "int" else (self.high - self.low) / 10)
        values = np.arange(self.low, self.high + step / 2, step)
        return [int(v) for v in values] if self.type == "int" else [round(float(v), 10) for v in values]

    def sample(self, rng: random.Random) -> Any:
        if self.choices or self.type == "bool" or self.low is None or self.high is None:
            return rng.choice(self.grid())
        if self.type == "int":
            return rng.randint(int(self.low), int(self.high))
        return rng.uniform(self.low, self.high)

    def schema(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.low is not None:
            out["min"] = self.low
        if self.high is not None:
            out["max"] = self.high
        if self.step is not None:
            out["step"] = self.step
        if self.choices:
            out["choices"] = list(self.choices)
        return out


class Strategy:
    """Base class: subclass it, set `name`, `params` (and `universe`), implement `targets`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    universe: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        self.values = self.resolve(values)

    @classmethod
    def resolve(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value type- and range-checked, unknown names refused."""
        known = {p.name: p for p in cls.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValidationError(f"unknown parameter(s) for {cls.name}: {', '.join(unknown)}; "
                                  f"known: {', '.join(known) or 'none'}", code="invalid_parameter")
        out = {name: p.check(values[name]) if name in values else p.default for name, p in known.items()}
        cls.check(out)
        return out

    @classmethod
    def check(cls, values: dict[str, Any]) -> None:
        """Rules across parameters (e.g. fast < slow); raise ValidationError."""

    def warmup(self) -> int:
        """Bars before the first meaningful target (reported as a warning when data is short)."""
        return max([v for v in self.values.values() if isinstance(v, int) and not isinstance(v, bool)],
                   default=0)

    def targets(self, data: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__}.targets(bars) must return target weights")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "description": cls.description, "universe": cls.universe,
                "params": [p.schema() for p in cls.params]}


REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available by its name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a `name`")
    REGISTRY[cls.name] = cls
    return cls


def lookup(name: str) -> type[Strategy]:
    """A strategy by registered name, or by module path `package.module:ClassName`."""
    _load_builtins()
    if name in REGISTRY:
        return REGISTRY[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ValidationError(f"cannot import strategy {name!r}: {e}", code="unknown_strategy") from e
        if isinstance(found, type) and issubclass(found, Strategy):
            REGISTRY.setdefault(found.name or name, found)
            return found
        raise ValidationError(f"{name!r} is not a Strategy subclass", code="unknown_strategy")
    raise ValidationError(f"unknown strategy {name!r}; known: {', '.join(sorted(REGISTRY))}",
                          code="unknown_strategy")


def catalogue() -> list[dict[str, Any]]:
    _load_builtins()
    return [REGISTRY[name].describe() for name in sorted(REGISTRY)]


_plugins_loaded = False


def _load_builtins() -> None:
    """Import the built-ins and every module named in the `autostock.strategies` entry points.

    An installed package registers its strategies by module path in its pyproject.toml
    (docs/backtest.md); importing the module runs its `@register` decorators.
    """
    global _plugins_loaded
    from autostock.backtest.strategies import builtin, rotation  # noqa: F401 - registers on import
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points
    for entry in entry_points(group="autostock.strategies"):
        importlib.import_module(entry.value.partition(":")[0])
