"""Which broker simulator `autostock dev` starts (`BROKER_SIM`, `KIS_MARKET_KEYS`)."""

from __future__ import annotations

import pytest

from autostock.errors import ConfigError
from autostock.runtime import simulators


@pytest.mark.parametrize(("env", "started"), [
    ({}, "kis"),                                                  # a fresh machine: no keys, the simulator
    ({"KIS_MARKET_KEYS": "app:secret"}, None),                    # real market keys: the real KIS
    ({"KIS_MARKET_KEYS": "app:secret", "BROKER_SIM": "kis"}, "kis"),  # forced
    ({"BROKER_SIM": "none"}, None),                               # turned off, keys or not
    ({"BROKER_SIM": " None "}, None),
    ({"BROKER_SIM": "KIS"}, "kis"),
    ({"BROKER_SIM": ""}, "kis"),                                  # empty is unset
])
def test_the_simulator_dev_starts(env, started):
    assert simulators.wanted(env) == started


@pytest.mark.parametrize("value", ["ls", "kiwoom", "yes"])
def test_a_simulator_dev_cannot_wire_is_a_clear_error(value):
    with pytest.raises(ConfigError) as e:
        simulators.wanted({"BROKER_SIM": value})
    assert "BROKER_SIM must be one of kis, none" in str(e.value) and repr(value) in str(e.value)
