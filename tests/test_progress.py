"""Progress: plain lines when stderr is not a terminal, nothing for short steps."""

from __future__ import annotations

import io
import subprocess
import sys

from e2t_discovery.progress import PlainProgress, progress_bar


def test_plain_lines_carry_count_total_rate_and_postfix() -> None:
    out = io.StringIO()
    bar = PlainProgress(400, "E2T meta-training", "steps", interval_s=0.0, stream=out)
    bar.update(100)
    bar.set_postfix(val="0.532")
    bar.update(100)
    bar.close()
    bar.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("E2T meta-training: 100/400 steps (25%), ")
    assert lines[1].startswith("E2T meta-training: 200/400 steps (50%), ")
    assert "val=0.532" in lines[1]
    assert lines[2].endswith(" s") and "done in" in lines[2] and len(lines) == 3


def test_a_short_step_prints_nothing() -> None:
    out = io.StringIO()
    with PlainProgress(10, "screen", "cand", interval_s=60.0, stream=out) as bar:
        bar.update(10)
    assert out.getvalue() == ""


def test_not_a_terminal_gives_plain_lines_and_disabled_gives_nothing() -> None:
    script = ("import os; os.environ['E2T_PROGRESS_INTERVAL'] = '0'\n"
              "from e2t_discovery.progress import progress_bar\n"
              "bar = progress_bar(3, desc='screen', unit='cand')\n"
              "print(type(bar).__name__)\n"
              "bar.update(3); bar.close()\n"
              "off = progress_bar(3, desc='quiet', enabled=False); off.update(3); off.close()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "PlainProgress"
    assert "screen: 3/3 cand (100%)" in proc.stderr and "quiet" not in proc.stderr
    assert "\r" not in proc.stderr
    assert progress_bar(1, desc="x", enabled=False).disable
