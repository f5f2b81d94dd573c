"""Strategies: the API (`Strategy`, `Param`, `register`) and the built-ins."""

from autostock.backtest.strategies.base import REGISTRY, Param, Strategy, catalogue, lookup, register

__all__ = ["REGISTRY", "Param", "Strategy", "catalogue", "lookup", "register"]
