"""`VZOO_*` variables: one truthiness rule for every switch, a bad value is bad input."""

from __future__ import annotations

import pytest

from vzoo import settings
from vzoo.hub.fetch import offline_from_env
from vzoo.kernels import scan_simd


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on", " On "])
def test_every_switch_reads_the_same_words_as_on(word: str, monkeypatch) -> None:
    for name in ("VZOO_OFFLINE", "VZOO_DEBUG", "VZOO_SCAN_SIMD", "VZOO_SCAN_NUMBA"):
        monkeypatch.setenv(name, word)
    assert settings.offline() and settings.debug() and settings.scan_numba()
    assert offline_from_env() and scan_simd.enabled()


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "OFF"])
def test_every_switch_reads_the_same_words_as_off(word: str, monkeypatch) -> None:
    """`VZOO_SCAN_SIMD=false` used to leave the kernel on (only "0" turned it off) and
    `VZOO_OFFLINE=true` was ignored by `eval` and `predict` (only "1" was read)."""
    for name in ("VZOO_OFFLINE", "VZOO_SCAN_SIMD", "VZOO_SCAN_NUMBA", "VZOO_SASF_NUMBA"):
        monkeypatch.setenv(name, word)
    assert not settings.offline() and not offline_from_env()
    assert not scan_simd.enabled() and not settings.scan_numba() and not settings.sasf_numba()


def test_unset_or_empty_is_the_default(monkeypatch) -> None:
    monkeypatch.delenv("VZOO_OFFLINE", raising=False)
    monkeypatch.setenv("VZOO_SCAN_SIMD", "")
    assert not settings.offline() and settings.scan_simd()


def test_a_value_that_is_neither_is_bad_input_naming_the_variable(monkeypatch, cli) -> None:
    monkeypatch.setenv("VZOO_OFFLINE", "ture")
    with pytest.raises(settings.SettingError, match="VZOO_OFFLINE='ture'"):
        settings.offline()
    monkeypatch.delenv("VZOO_OFFLINE")
    monkeypatch.setenv("VZOO_DEBUG", "maybe")
    code, _, err = cli("list")
    assert code == 2 and err.strip().startswith("vzoo: error: VZOO_DEBUG='maybe'")
    assert "\n" not in err.strip() and "Traceback" not in err
