"""Settings: one typed table, validated, documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vitrina.settings import SETTINGS, Settings, SettingsError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_each_default_reads_back_from_its_spelling_in_the_table() -> None:
    assert Settings.from_env({}) == Settings()


def test_values_are_typed() -> None:
    settings = Settings.from_env(
        {
            "VITRINA_PORT": "9000",
            "VITRINA_ALLOW_QUERY_TOKEN": "off",
            "VITRINA_FETCH_ALLOW_NETWORKS": "127.0.0.1/32, 10.1.0.0/16",
            "VITRINA_PUBLIC_URL": "https://cdn.example.com/",
        }
    )
    assert settings.port == 9000
    assert settings.allow_query_token is False
    assert settings.fetch_allow_networks == ("127.0.0.1/32", "10.1.0.0/16")
    assert settings.effective_public_url == "https://cdn.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VITRINA_PORT", "eighty"),
        ("VITRINA_PORT", "70000"),
        ("VITRINA_WORKERS", "0"),
        ("VITRINA_ALLOW_QUERY_TOKEN", "perhaps"),
        ("VITRINA_DATABASE_URL", "mysql://x"),
        ("VITRINA_STORAGE_URL", "ftp://x"),
        ("VITRINA_PUBLIC_URL", "example.com"),
        ("VITRINA_FETCH_ALLOW_NETWORKS", "10.0.0.0/33"),
        ("VITRINA_MAX_IMAGE_BYTES", "-5"),
        ("VITRINA_LOG_LEVEL", "loud"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert name in str(caught.value)
    assert repr(value) in str(caught.value)


def test_secrets_are_masked() -> None:
    settings = Settings.from_env(
        {
            "VITRINA_DATABASE_URL": "postgresql://app:hunter2@db/vitrina",
            "VITRINA_S3_SECRET_ACCESS_KEY": "s3cr3t",
        }
    )
    shown = dict(settings.describe())
    assert shown["VITRINA_DATABASE_URL"] == "postgresql://app:***@db/vitrina"
    assert shown["VITRINA_S3_SECRET_ACCESS_KEY"] == "***"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"VITRINA_DATABASE_URL": "mysql://app:hunter2@db"})
    assert "hunter2" not in str(caught.value)


def test_every_setting_is_documented_with_its_default() -> None:
    text = DOCS.read_text()
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(VITRINA_\w+)` \| `([^`]*)` \|", text, re.M)
    }
    for setting in SETTINGS:
        assert setting.env in rows, f"{setting.env} is missing from docs/configuration.md"
        assert rows[setting.env] == setting.default, setting.env
    assert set(rows) == {s.env for s in SETTINGS}, "docs/configuration.md lists unknown settings"
