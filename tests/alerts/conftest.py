from __future__ import annotations

import datetime as dt
import secrets

import pytest

from autostock import contract, db
from autostock.config import Secret
from autostock.resources import Resources
from tests.alerts.fake_telegram import FakeTelegram

BOT_TOKEN = "123456:TEST-bot-token-never-logged"


@pytest.fixture
def telegram():
    fake = FakeTelegram(BOT_TOKEN)
    yield fake
    fake.close()


@pytest.fixture
def tg_resources(resources: Resources, telegram: FakeTelegram):
    """Resources whose settings point Telegram at the fake; installed for handlers too."""
    settings = resources.settings.with_overrides(telegram_bot_token=Secret(BOT_TOKEN),
                                                 telegram_api_base=telegram.url)
    res = Resources(settings=settings, pool=resources.pool, redis=resources.redis, events=resources.events)
    contract.install(res)
    yield res
    contract.install(resources)


@pytest.fixture
def linked_user(user_factory, tg_resources):
    """A user whose Telegram chat is linked (chat id is unique per user)."""
    def make(language: str = "ko") -> dict:
        user = user_factory()
        chat_id = secrets.randbelow(10**12) + 10**9   # unique across tests: a drain sends every due row
        with db.service(tg_resources.pool) as conn:
            conn.execute("INSERT INTO notification_settings (user_id, language, telegram_chat_id, telegram_linked_at)"
                         " VALUES (%s, %s, %s, now())", (user["id"], language, chat_id))
        return {**user, "chat_id": chat_id}

    return make


def bar(code: str, close: int, minute: int, volume: int = 1000, prev_close: int = 0) -> dict:
    t = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))) + dt.timedelta(minutes=minute)
    return {"code": code, "t": t.isoformat(), "open": close, "high": close, "low": close, "close": close,
            "volume": volume, "prev_close": prev_close}
