"""Secrets at rest: MultiFernet over the keys in ENCRYPTION_KEYS (newest first).

Encrypting always uses the newest key; decrypting tries each key, so a new key can be put in
front and `rotate` re-encrypts the stored values at leisure (no downtime).
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from autostock.config import Secret
from autostock.errors import ConfigError


@functools.lru_cache(maxsize=8)
def _box(keys: Secret) -> MultiFernet:
    parts = [k.strip() for k in keys.reveal().split(",") if k.strip()]
    if not parts:
        raise ConfigError("ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(k.encode()) for k in parts])
    except (ValueError, TypeError) as e:
        raise ConfigError("ENCRYPTION_KEYS must be comma-separated Fernet keys") from e


def encrypt(keys: Secret, plaintext: str) -> str:
    return _box(keys).encrypt(plaintext.encode()).decode()


def decrypt(keys: Secret, token: str) -> str:
    try:
        return _box(keys).decrypt(token.encode()).decode()
    except InvalidToken as e:
        raise ConfigError("a stored secret cannot be decrypted with the configured keys") from e


def rotate(keys: Secret, token: str) -> str:
    """The same secret, re-encrypted under the newest key."""
    return _box(keys).rotate(token.encode()).decode()
