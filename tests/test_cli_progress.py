"""The CLI's progress displays: finished steps stay on screen with their time; bars count."""

from __future__ import annotations

import pytest

from twin.cli.progress import stage_spinner


@pytest.mark.exact
def test_stage_spinner_keeps_each_finished_step_and_the_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stage_spinner("calibrating testville") as say:
        say("reading the lake")
        say("fitting demand")
    err = capsys.readouterr().err
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("reading the lake (0:0")
    assert lines[1].startswith("fitting demand (0:0")
    assert lines[-1].startswith("calibrating testville: done in 0:0")


@pytest.mark.exact
def test_stage_spinner_without_steps_prints_only_the_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stage_spinner("quick"):
        pass
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("quick: done in")
