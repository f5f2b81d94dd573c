"""`autostock rotate-keys`: after it, every stored secret decrypts with the newest key alone."""

import pyotp
from cryptography.fernet import Fernet

from autostock import accounts, cli, crypto, db
from autostock.auth import apikeys, twofactor
from autostock.notify import webhooks


def test_rotate_keys_command(resources, user_factory, tmp_path, capsys, monkeypatch):
    user = user_factory()
    accounts.create_account(resources, user["id"], broker="kiwoom", account_number="5550001111",
                            app_key="kiwoom-app-key-123", app_secret="kiwoom-secret-456", account_password="9999")
    apikeys.create(resources, user["id"], name="signed", scopes=["trade"], signed=True)
    secret = twofactor.setup(resources, user["id"])["secret"]
    twofactor.enable(resources, user["id"], pyotp.TOTP(secret).now())
    webhooks.create(resources, user["id"], {"url": "https://example.com/rotate"})  # another area's *_enc column

    s = resources.settings
    new = Fernet.generate_key().decode()
    env = tmp_path / ".env"
    env.write_text("\n".join([f"DATABASE_URL={s.database_url.reveal()}", f"REDIS_URL={s.redis_url.reveal()}",
                              f"NATS_URL={s.nats_url}", f"JWT_SECRET={s.jwt_secret.reveal()}",
                              f"ENCRYPTION_KEYS={new},{s.encryption_keys.reveal()}",
                              f"REDIS_PREFIX={s.redis_prefix}", "SECRETS_DIR=/nonexistent"]))
    # The environment wins over an env file, and `make test` runs under `autostock services run`,
    # which exports the dev DATABASE_URL: the command must see only this run's settings.
    for name in ("DATABASE_URL", "REDIS_URL", "NATS_URL", "JWT_SECRET", "ENCRYPTION_KEYS", "REDIS_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    try:
        assert cli.main(["rotate-keys", "--env-file", str(env)]) == 0
        assert "re-encrypted" in capsys.readouterr().out
        _assert_all_decrypt(resources, new)
    finally:  # the database is shared by the whole run: put every secret back under the run's key
        back = f"{s.encryption_keys.reveal()},{new}"
        accounts.rotate_keys(resources.pool, s.with_overrides(encryption_keys=crypto.Secret(back)))


def _assert_all_decrypt(resources, new):
    only_new = crypto.Secret(new)
    with db.service(resources.pool) as conn:
        values = [v for r in conn.execute("SELECT account_number, app_key, app_secret, account_password"
                                          " FROM broker_accounts").fetchall() for v in r.values() if v]
        values += [r["signing_secret"] for r in conn.execute(
            "SELECT signing_secret FROM api_keys WHERE signing_secret IS NOT NULL").fetchall()]
        values += [r["totp_secret"] for r in conn.execute(
            "SELECT totp_secret FROM users WHERE totp_secret IS NOT NULL").fetchall()]
        values += [r["secret_enc"] for r in conn.execute("SELECT secret_enc FROM outbound_webhooks").fetchall()]
    assert len(values) >= 7
    for value in values:
        crypto.decrypt(only_new, value)
