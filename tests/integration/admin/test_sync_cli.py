"""``ocpp-gateway members import|export`` on a real database: bad rows printed with their lines
and a non-zero exit, dry run, apply-valid, the XLSX round trip, the progress bar on a terminal
only (a separate process on a pseudo-terminal), a running gateway seeing an import's changes.

Most commands run in this process (``gateway.cli.main``), which is what the entry point runs,
to keep the tests quick; the terminal and gateway tests run real processes."""

from __future__ import annotations

import asyncio
import os
import pty
from pathlib import Path

import pytest

from gateway.cli import main
from simulators import ChargePoint16
from tests.conftest import cli, run_cli
from tests.integration.admin.conftest import ACME_PASSWORD, ACME_STATION, Org

HEADER = "identifier,first_name,last_name,email,phone,role,status,groups,tokens,valid_until\n"
OWNER = ",Olivia,Owner,owner@acme.test,,,,,,\n"


class Cli:
    """``ocpp-gateway --database ... ARGS`` in this process: (exit status, stdout, stderr)."""

    def __init__(self, database: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.database = database
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--database", str(self.database), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def export(self, *extra: str) -> str:
        code, out, err = self("members", "export", "--organisation", "Acme", *extra)
        assert code == 0, err
        return out


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A database with the organisation Acme and its Owner."""
    run = Cli(tmp_path / "cli.sqlite3", capsys)
    code, _, err = run(
        "orgs", "create", "Acme", "--owner-email", "owner@acme.test",
        "--owner-first-name", "Olivia", "--owner-last-name", "Owner",
    )  # fmt: skip
    assert code == 0, err
    return run


def test_bad_rows_are_printed_with_their_lines_and_nothing_is_applied(
    run: Cli, tmp_path: Path
) -> None:
    file = tmp_path / "members.csv"
    file.write_text(
        HEADER + OWNER + ",Ann,Alpha,ann@acme.test,,,,,,\n" + ",Bob,Beta,bob-at-acme,,,,,,\n"
    )
    before = run.export()
    code, _, err = run("members", "import", str(file), "--organisation", "Acme")
    assert code == 1
    assert "line 4: email: 'bob-at-acme' is not an email address" in err
    assert "nothing applied" in err
    assert "\r" not in err  # no progress bar when stderr is not a terminal
    assert run.export() == before
    code, _, err = run("members", "import", str(file), "--organisation", "Acme", "--apply-valid")
    assert code == 3, err
    assert "added 1" in err and "line 4" in err
    assert "ann@acme.test" in run.export()


def test_dry_run_lists_the_changes_and_writes_nothing(run: Cli, tmp_path: Path) -> None:
    file = tmp_path / "members.csv"
    file.write_text(HEADER + ",Olivia,Owner,owner@acme.test,+33 6 00 00 00 00,,,,,\n")
    code, out, err = run("members", "import", str(file), "--organisation", "Acme", "--dry-run")
    assert code == 0, err
    assert "update  line 2: owner@acme.test:" in out
    assert "(dry run: nothing written)" in err
    # The command line may change the Owner's contact details (not their role or status).
    assert "+33 6" not in run.export()


def test_export_to_xlsx_and_import_it_again_changes_nothing(run: Cli, tmp_path: Path) -> None:
    file = tmp_path / "members.csv"
    file.write_text(HEADER + OWNER + ",Ann,Alpha,ann@acme.test,,Manager,,Night,ANN-1,2030-01-01\n")
    code, _, err = run("members", "import", str(file), "--organisation", "Acme")
    assert code == 0, err
    xlsx = tmp_path / "out.xlsx"
    run.export("--output", str(xlsx))
    assert xlsx.read_bytes()[:2] == b"PK"
    before = run.export()
    code, _, err = run("members", "import", str(xlsx), "--organisation", "Acme")
    assert code == 0, err
    assert "added 0, updated 0, unchanged 2, deactivated 0" in err
    assert run.export() == before
    assert run.export("--columns", "email", "tokens") == (
        "email,tokens\r\nann@acme.test,ANN-1\r\nowner@acme.test,\r\n"
    )
    code, _, err = run("members", "export", "--organisation", "Acme", "--columns", "email,colour")
    assert code == 1 and "colour" in err


def test_unknown_organisation_and_missing_file_are_errors(run: Cli, tmp_path: Path) -> None:
    file = tmp_path / "members.csv"
    file.write_text(HEADER + OWNER)
    code, _, err = run("members", "import", str(file), "--organisation", "X")
    assert code == 1 and "no organisation 'X' (organisations: 'Acme')" in err
    code, _, err = run("members", "import", str(tmp_path / "nope.csv"), "--organisation", "Acme")
    assert code == 1 and "cannot read" in err


async def test_a_progress_bar_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    """A real process whose stderr is a pseudo-terminal."""
    database = tmp_path / "tty.sqlite3"
    code, _, err = await run_cli(
        database, "orgs", "create", "Acme", "--owner-email", "owner@acme.test"
    )
    assert code == 0, err
    file = tmp_path / "members.csv"
    rows = [f",F{n},L{n},m{n}@acme.test,,,,,,\n" for n in range(2000)]
    file.write_text(HEADER + ",,,owner@acme.test,,,,,,\n" + "".join(rows))
    leader, follower = pty.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            *cli(database, "members", "import", str(file), "--organisation", "Acme"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        await asyncio.wait_for(proc.wait(), 60)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    text = seen.decode()
    assert proc.returncode == 0, text
    assert "\rreading  [" in text and "100% 2,001/2,001" in text
    assert "\rwriting  [##############################] 100%" in text
    assert "added 2000" in text


async def test_a_running_gateway_sees_a_command_line_import(acme: Org, tmp_path: Path) -> None:
    await acme.add_member("gone@acme.test", badge="GONE-1")
    file = tmp_path / "members.csv"
    file.write_text(HEADER + OWNER + ",New,Comer,new@acme.test,,,,,NEW-1,\n")
    database = acme.harness.gateway.db.path
    code, _, err = await run_cli(database, "members", "import", str(file), "--organisation", "Acme")
    assert code == 0, err
    async with ChargePoint16(ACME_STATION, url=acme.harness.url, password=ACME_PASSWORD) as cp:
        await cp.boot()
        for _ in range(50):  # the gateway polls the database every second
            if (await cp.authorize("NEW-1"))["idTagInfo"]["status"] == "Accepted":
                break
            await asyncio.sleep(0.1)
        assert (await cp.authorize("NEW-1"))["idTagInfo"]["status"] == "Accepted"
        assert (await cp.authorize("GONE-1"))["idTagInfo"]["status"] == "Blocked"
    audit = await acme.harness.db_rows(
        "SELECT actor FROM audit_log WHERE action = 'member.import.add'"
    )
    assert audit == [{"actor": "cli"}]
