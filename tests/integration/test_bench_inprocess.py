"""``python -m bench.inprocess`` drives the gateway's own connection code with a stand-in
socket: it must keep working as that code changes (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "calls"),
    [
        (["--mix", "session", "--chargers", "4", "--sessions", "2"], 4 * 2 * 12),
        (["--mix", "authorize", "--calls", "200"], 200),
    ],
)
def test_inprocess_bench_answers_every_call(tmp_path: Path, args: list[str], calls: int) -> None:
    small = ["--stations", "10", "--members", "50", "--results", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.inprocess", *args, *small],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["calls"] == calls  # every CALL got a CALLRESULT (a CALLERROR raises)
    assert figures["cpu_us_per_call"] > 0
