"""Passwords: a strength check at the door and bcrypt at rest.

The password is SHA-256'd and base64'd before bcrypt, because bcrypt reads at most 72 bytes
(and bcrypt 5 refuses longer input): a long passphrase keeps all of its strength.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from importlib import resources as package_files

import bcrypt

from autostock.errors import ValidationError

MIN_LENGTH = 10
MAX_LENGTH = 256


@functools.cache
def common_passwords() -> frozenset[str]:
    text = package_files.files("autostock").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def check_strength(password: str, *, username: str = "", email: str = "") -> None:
    """Refuse short, common or self-describing passwords, with a message that says why."""
    problem = None
    if len(password) < MIN_LENGTH:
        problem = f"must be at least {MIN_LENGTH} characters"
    elif len(password) > MAX_LENGTH:
        problem = f"must be at most {MAX_LENGTH} characters"
    elif password.lower() in common_passwords() or len(set(password)) < 4:
        problem = "is too common; choose a longer or less predictable one"
    elif username and username.lower() in password.lower():
        problem = "must not contain the username"
    elif email and email.split("@")[0].lower() in password.lower() and len(email.split("@")[0]) >= 4:
        problem = "must not contain the email address"
    if problem:
        raise ValidationError(f"password {problem}", code="weak_password",
                              details={"fields": {"password": problem}})


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode()).digest())


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode())
    except ValueError:  # not a bcrypt hash (e.g. a user made by a fixture): never matches
        return False


@functools.cache
def _dummy_hash(rounds: int) -> str:
    return hash_password("not the password of anybody", rounds)


def burn_time(password: str, rounds: int) -> None:
    """Spend what a real check costs, so an unknown username answers as slowly as a known one."""
    verify_password(password, _dummy_hash(rounds))
