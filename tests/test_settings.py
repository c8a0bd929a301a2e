"""Settings: one typed module reads every LOCATOR_* variable; bad values name the setting."""

from __future__ import annotations

import pytest

from locator.cli.main import main
from locator.settings import DEFAULT_DB, Settings, load_settings, settings_table


def test_defaults_and_types():
    st = load_settings(environ={})
    assert st == Settings()
    assert (st.db, st.rate_limit, st.refresh_seconds, st.gc_freeze) == (DEFAULT_DB, 600, 0.2,
                                                                         True)


def test_environment_then_overrides():
    env = {"LOCATOR_RATE_LIMIT": "30", "LOCATOR_TILES": "AMAP", "LOCATOR_GC_FREEZE": "no",
           "LOCATOR_PBF": ""}
    st = load_settings({"LOCATOR_RATE_LIMIT": 0, "tianditu_key": "k"}, environ=env)
    assert (st.rate_limit, st.tiles, st.gc_freeze, st.pbf, st.tianditu_key) == (
        0, "amap", False, None, "k")
    assert load_settings({"LOCATOR_DB": None}, environ={}).db == DEFAULT_DB  # None = default


@pytest.mark.parametrize("name,value,match", [
    ("LOCATOR_RATE_LIMIT", "many", "LOCATOR_RATE_LIMIT='many' is not a valid setting"),
    ("LOCATOR_TILES", "google", "allowed: osm, tianditu, amap, none"),
    ("LOCATOR_GC_FREEZE", "maybe", "LOCATOR_GC_FREEZE='maybe'"),
], ids=["int", "choice", "bool"])
def test_bad_values_name_the_setting(name, value, match):
    with pytest.raises(ValueError, match=match):
        load_settings(environ={name: value})


def test_the_table_lists_every_setting_once():
    names = [n for n, _, _ in settings_table()]
    assert len(names) == len(set(names)) and "LOCATOR_DB" in names
    assert all(n.startswith("LOCATOR_") for n in names)


def test_locator_settings_command(runner, monkeypatch):
    monkeypatch.setenv("LOCATOR_RATE_LIMIT", "5")
    r = runner.invoke(main, ["settings"])
    assert r.exit_code == 0
    assert "LOCATOR_RATE_LIMIT             5   <- set" in r.output
    monkeypatch.setenv("LOCATOR_RATE_LIMIT", "x")
    r = runner.invoke(main, ["settings"])
    assert r.exit_code == 1 and "LOCATOR_RATE_LIMIT='x'" in r.output
    assert "Traceback" not in r.output
