"""Settings: embedded defaults, the development secret, and refusals in production."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.settings import Settings, SettingsError


def test_defaults_work_on_a_laptop(tmp_path: Path) -> None:
    settings = Settings.from_environment({"MARKETPLACE_DATA_DIR": str(tmp_path / "var")})
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'marketplace.sqlite3'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.content_dir.name == "content"
    assert settings.index_dir == tmp_path / "var" / "index"
    assert len(settings.secret_key) >= 32
    again = Settings.from_environment({"MARKETPLACE_DATA_DIR": str(tmp_path / "var")})
    assert again.secret_key == settings.secret_key  # generated once, kept in the data folder
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert settings.secret_key not in repr(settings)


@pytest.mark.parametrize("secret", [None, "", "changeme", "short"])
def test_production_refuses_a_missing_or_default_secret(tmp_path: Path, secret: str | None) -> None:
    environ = {"MARKETPLACE_ENV": "production", "MARKETPLACE_DATA_DIR": str(tmp_path),
               "MARKETPLACE_BASE_URL": "https://tool.example"}
    if secret is not None:
        environ["MARKETPLACE_SECRET_KEY"] = secret
    with pytest.raises(SettingsError, match="MARKETPLACE_SECRET_KEY"):
        Settings.from_environment(environ)
    assert not (tmp_path / "secret_key").exists()


def test_production_accepts_a_real_secret(tmp_path: Path) -> None:
    settings = Settings.from_environment({"MARKETPLACE_ENV": "production", "MARKETPLACE_SECRET_KEY": "k" * 48,
                                          "MARKETPLACE_BASE_URL": "https://tool.example/"})
    assert settings.is_production and settings.base_url == "https://tool.example"


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="MARKETPLACE_ENV"):
        Settings.from_environment({"MARKETPLACE_ENV": "staging"})
    with pytest.raises(SettingsError, match="MARKETPLACE_BASE_URL"):
        Settings.from_environment({"MARKETPLACE_BASE_URL": "ftp://x", "MARKETPLACE_DATA_DIR": str(tmp_path)})


@pytest.mark.parametrize(("variable", "value"), [
    ("MARKETPLACE_LOG_FORMAT", "xml"), ("MARKETPLACE_LOG_LEVEL", "LOUD"), ("MARKETPLACE_METRICS_TOKEN", "short"),
    ("MARKETPLACE_CATALOG_CHECK_SECONDS", "soon"), ("MARKETPLACE_CATALOG_CHECK_SECONDS", "-1"),
])
def test_bad_operations_settings_are_refused_by_name(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_environment({variable: value, "MARKETPLACE_DATA_DIR": str(tmp_path)})


def test_operations_settings_are_read(tmp_path: Path) -> None:
    settings = Settings.from_environment({
        "MARKETPLACE_DATA_DIR": str(tmp_path), "MARKETPLACE_LOG_FORMAT": "Text", "MARKETPLACE_LOG_LEVEL": "debug",
        "MARKETPLACE_METRICS_TOKEN": "t" * 32, "MARKETPLACE_CATALOG_CHECK_SECONDS": "2.5"})
    assert (settings.log_format, settings.log_level, settings.catalog_check_seconds) == ("text", "DEBUG", 2.5)
    assert settings.metrics_token == "t" * 32 and "t" * 32 not in repr(settings)
    defaults = Settings.from_environment({"MARKETPLACE_DATA_DIR": str(tmp_path)})
    assert (defaults.log_format, defaults.metrics_token, defaults.catalog_check_seconds) == ("json", None, 15.0)
