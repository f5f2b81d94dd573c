import pytest

from autostock.config import Secret, load_settings, read_env_file
from autostock.errors import ConfigError

BASE = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://r", "NATS_URL": "nats://n",
        "JWT_SECRET": "s3cret-value", "ENCRYPTION_KEYS": "k1"}


def test_missing_settings_are_all_named(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_settings({"REDIS_URL": "redis://r"}, secrets_dir=tmp_path)
    message = str(e.value)
    for name in ("DATABASE_URL", "NATS_URL", "JWT_SECRET", "ENCRYPTION_KEYS"):
        assert name in message
    assert "REDIS_URL" not in message


def test_environment_wins_over_secret_files(tmp_path):
    (tmp_path / "jwt-secret").write_text("from-file\n")
    (tmp_path / "autostock-encryption-keys").write_text("file-key\n")
    env = {k: v for k, v in BASE.items() if k != "ENCRYPTION_KEYS"}
    s = load_settings(env, secrets_dir=tmp_path)
    assert s.jwt_secret.reveal() == "s3cret-value"
    assert s.encryption_keys.reveal() == "file-key"


def test_secrets_never_show_in_repr():
    s = load_settings(BASE, secrets_dir="/nonexistent")
    text = repr(s) + str(s)
    assert "s3cret-value" not in text and "postgresql://x/y" not in text
    assert f"{Secret('abc')}" == "Secret('***')"


def test_integers_are_parsed_and_bad_ones_named():
    s = load_settings({**BASE, "PAPER_STARTING_CASH": "5000000"}, secrets_dir="/nonexistent")
    assert s.paper_starting_cash == 5_000_000
    with pytest.raises(ConfigError, match="PAPER_STARTING_CASH"):
        load_settings({**BASE, "PAPER_STARTING_CASH": "lots"}, secrets_dir="/nonexistent")


def test_prefixes_apply_to_keys_and_subjects():
    s = load_settings({**BASE, "REDIS_PREFIX": "t1:", "NATS_PREFIX": "t1."}, secrets_dir="/nonexistent")
    assert s.redis_key("quote", "005930") == "t1:quote:005930"
    assert s.subject("ticks", "005930") == "t1.ticks.005930"


def test_env_file_parsing(tmp_path):
    p = tmp_path / ".env"
    p.write_text("# comment\nA=1\nB='two'\n\nbroken line\n")
    assert read_env_file(p) == {"A": "1", "B": "two"}
    assert read_env_file(tmp_path / "missing") == {}


def test_the_internal_token_is_a_secret_read_from_its_openfaas_file(tmp_path):
    assert not load_settings(BASE, secrets_dir=tmp_path).internal_token  # unset: internal calls refused
    (tmp_path / "autostock-internal-token").write_text("tok-from-file\n")
    s = load_settings(BASE, secrets_dir=tmp_path)
    assert s.internal_token.reveal() == "tok-from-file" and "tok-from-file" not in repr(s)


def test_init_env_generates_every_secret_the_platform_needs(tmp_path, capsys):
    from autostock.cli import main
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    assert main(["init-env", "--path", str(first)]) == 0 and main(["init-env", "--path", str(second)]) == 0
    a, b = read_env_file(first), read_env_file(second)
    printed = capsys.readouterr().out
    for name in ("JWT_SECRET", "ENCRYPTION_KEYS", "INTERNAL_TOKEN"):
        assert len(a[name]) >= 32 and a[name] != b[name], name
        assert a[name] not in printed
    assert load_settings(a, secrets_dir=tmp_path).internal_token.reveal() == a["INTERNAL_TOKEN"]


def test_a_setting_a_command_cannot_start_with_is_one_line_and_exit_code_2(monkeypatch, capsys):
    from autostock.cli import main
    monkeypatch.setenv("DB_POOL_MAX", "lots")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err == "autostock migrate: DB_POOL_MAX must be an integer, was 'lots'\n"
