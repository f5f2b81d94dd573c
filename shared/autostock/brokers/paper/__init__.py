"""The paper broker: simulated fills on the platform's own books (no broker account needed).

`PaperBroker` is the `Broker` adapter; `run_matcher` is the process that fills resting limit
orders from NATS ticks; `model` holds the pure fill rules the backtest can share.
"""

from autostock.brokers.paper.broker import PaperBroker
from autostock.brokers.paper.matcher import Matcher, run_matcher
from autostock.brokers.paper.model import PaperConfig

__all__ = ["Matcher", "PaperBroker", "PaperConfig", "run_matcher"]
