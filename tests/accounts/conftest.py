"""Accounts tests reuse the identity fixtures (real registration and login)."""

from tests.auth.conftest import login, registered  # noqa: F401
