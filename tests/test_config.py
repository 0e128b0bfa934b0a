"""Settings from the environment, each also from a file its ``_FILE`` variable names (how
containers and systemd hand secrets over), with a clear refusal when that goes wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom.config import environ, settings
from headroom.errors import ConfigError


def test_a_setting_is_read_from_the_file_its_file_variable_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'kept.sqlite'}"
    (tmp_path / "url").write_text(url + "\n")
    monkeypatch.delenv("HEADROOM_DATABASE_URL", raising=False)
    monkeypatch.setenv("HEADROOM_DATABASE_URL_FILE", str(tmp_path / "url"))
    settings.cache_clear()
    assert settings().state_url == url


def test_both_the_variable_and_its_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADROOM_WRITE_KEYS", "k1")
    monkeypatch.setenv("HEADROOM_WRITE_KEYS_FILE", str(tmp_path / "keys"))
    with pytest.raises(ConfigError) as err:
        environ("HEADROOM_WRITE_KEYS")
    assert str(err.value) == (
        "both HEADROOM_WRITE_KEYS and HEADROOM_WRITE_KEYS_FILE are set; set one of them: "
        "HEADROOM_WRITE_KEYS_FILE for a secret kept in a file"
    )


def test_a_file_that_cannot_be_read_says_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HEADROOM_WRITE_KEYS", raising=False)
    monkeypatch.setenv("HEADROOM_WRITE_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError) as err:
        environ("HEADROOM_WRITE_KEYS")
    assert str(err.value) == (
        f"HEADROOM_WRITE_KEYS_FILE names {tmp_path / 'missing'}, which cannot be read (No such "
        "file or directory); point HEADROOM_WRITE_KEYS_FILE at a readable UTF-8 file holding "
        "the value"
    )
    monkeypatch.delenv("HEADROOM_WRITE_KEYS_FILE")
    assert environ("HEADROOM_WRITE_KEYS") is None  # neither: not set
