import pytest
from cryptography.fernet import Fernet

from autostock import crypto
from autostock.config import Secret
from autostock.errors import ConfigError


def test_round_trip_and_rotation_to_the_newest_key():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = crypto.encrypt(Secret(old), "app-secret")
    both = Secret(f"{new},{old}")
    assert crypto.decrypt(both, stored) == "app-secret"
    rotated = crypto.rotate(both, stored)
    assert crypto.decrypt(Secret(new), rotated) == "app-secret"
    with pytest.raises(ConfigError):
        crypto.decrypt(Secret(new), stored)


def test_bad_keys_are_a_config_error():
    with pytest.raises(ConfigError):
        crypto.encrypt(Secret("not-a-key"), "x")
    with pytest.raises(ConfigError):
        crypto.encrypt(Secret(""), "x")
