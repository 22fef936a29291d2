"""Phase 10 of bench --realtime (the hostile network) run for a few seconds against a real
`tubeless web`: its floods really happen and the player's requests are counted and timed."""
from firmware.tools import hostilebench


def test_the_hostile_phase_floods_and_times_the_player(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "pedal.toml").write_text(f'[models]\ndirectory = "{models}"\n[control]\nsocket = "{tmp_path}/none.sock"\n'
                                         f'[web]\nmax_upload_mb = 1\n')
    monkeypatch.setattr(hostilebench, "IDLE", 200)
    state = hostilebench.hostile_phase("start", str(tmp_path))
    import time
    time.sleep(4.0)
    state = hostilebench.hostile_phase("stop", state)
    assert state["idle_opened"] >= 200
    assert state["wrong_logins"] >= 4 and state["zips"] >= 2
    assert state["answered"] >= 4 and state["failed"] == 0, state
    text = hostilebench.summary(state)
    assert f"answered {state['answered']} of {state['answered']}" in text
