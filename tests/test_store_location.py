"""Where measurements and caches live: results in a data folder, caches in a cache folder, so
clearing caches never deletes measurements; a store an earlier vzoo kept in the cache folder is
moved over once, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_results_store import OLD_ROWS, _old_layout_db

from vzoo.core.results import EvalResult, ResultStore, default_store_path
from vzoo.hub.cache import CheckpointCache


@pytest.fixture()
def platform_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """No VZOO_HOME: the platform's folders (XDG on Linux), under tmp_path."""
    monkeypatch.delenv("VZOO_HOME", raising=False)
    data, cache = tmp_path / "xdg-data", tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return data / "vzoo", cache / "vzoo"


def _result(value: float) -> EvalResult:
    return EvalResult("mlla-t", "top1", value, "%", "vzoo eval mlla-t")


def test_results_go_to_the_data_dir_and_checkpoints_to_the_cache_dir(
    platform_dirs: tuple[Path, Path],
) -> None:
    data, cache = platform_dirs
    store = ResultStore()
    store.record([_result(83.0)])
    assert store.path == default_store_path() == data / "results"
    assert list((data / "results" / "records").rglob("*.json"))
    assert CheckpointCache().root == cache / "checkpoints"
    assert not (cache / "results").exists()  # `rm -rf ~/.cache` cannot take measurements


def test_vzoo_home_holds_both(vzoo_home: Path) -> None:
    assert default_store_path() == vzoo_home / "results"
    assert CheckpointCache().root == vzoo_home / "checkpoints"


def test_a_store_in_the_old_cache_location_is_moved_once_nothing_lost(
    platform_dirs: tuple[Path, Path],
) -> None:
    data, cache = platform_dirs
    old = ResultStore(cache / "results", index_dir=cache.parent / "idx")
    old.record([_result(82.5)])
    old.record([_result(83.1)])
    old_files = sorted(p.name for p in (cache / "results").rglob("*.json"))
    assert len(old_files) == 2

    store = ResultStore()  # the default location: adopts the old store
    assert store.path == data / "results"
    assert sorted(r.value for r in store.query()) == [82.5, 83.1]
    assert sorted(p.name for p in (data / "results").rglob("*.json")) == old_files
    # the old folder is kept under another name, never deleted
    assert not (cache / "results").exists()
    kept = cache / "results.imported"
    assert sorted(p.name for p in kept.rglob("*.json")) == old_files

    again = ResultStore()  # once: nothing imported twice, nothing new
    assert sorted(r.value for r in again.query()) == [82.5, 83.1]
    again.record([_result(84.0)])
    assert len(list((data / "results").rglob("*.json"))) == 3
    assert sorted(p.name for p in kept.rglob("*.json")) == old_files


def test_an_old_results_database_in_the_cache_dir_is_imported(
    platform_dirs: tuple[Path, Path],
) -> None:
    data, cache = platform_dirs
    cache.mkdir(parents=True)
    _old_layout_db(cache / "results.sqlite", OLD_ROWS)
    store = ResultStore()
    assert sorted(r.value for r in store.query()) == sorted(r[2] for r in OLD_ROWS)
    assert store.path == data / "results"
    assert (cache / "results.sqlite.imported").is_file() and not (cache / "results.sqlite").exists()
