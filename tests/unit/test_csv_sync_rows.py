"""Member files, the pure parts: reading CSV/XLSX with line numbers, the header check, each
row's values, default identifiers, and files written then read back unchanged."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.members.roles import Role
from gateway.members.sync_rows import (
    COLUMNS,
    MemberRow,
    check_header,
    default_identifier,
    parse_row,
)
from gateway.members.sync_table import (
    XLSX_TYPE,
    TableError,
    file_kind,
    read_table,
    write_csv,
    write_xlsx,
)

PARIS = ZoneInfo("Europe/Paris")


def row(**cells: str) -> MemberRow:
    header, errors = check_header(list(cells))
    assert not [e for e in errors if e.field not in ("first_name", "last_name", "email")]
    return parse_row(7, header, list(cells.values()), PARIS)


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("Ann", "Alpha", "ann.alpha"),
        ("Zoë-Ann", "O'Brien", "zoe-ann.o-brien"),
        ("  Jean Luc ", "PICARD", "jean-luc.picard"),
        ("Straße", "", "strasse"),
        ("", "Ørsted", "ørsted"),
        ("李", "王", "李.王"),
        ("--", "!", ""),
    ],
)
def test_the_default_identifier_is_first_dot_last_normalised(
    first: str, last: str, expected: str
) -> None:
    assert default_identifier(first, last) == expected


def test_the_header_names_every_problem_on_line_1() -> None:
    header, errors = check_header(["First Name", "e-mail", "EMAIL", "colour", "", "groups", ""])
    assert header.names[0] == "first_name"
    assert [(e.line, e.field) for e in errors] == [
        (1, "e_mail"),  # unknown
        (1, "colour"),  # unknown
        (1, None),  # column 5 has no name (a trailing one may)
        (1, "last_name"),  # missing
    ]


def test_a_good_row_gives_its_values() -> None:
    parsed = row(
        first_name=" Ann ", last_name="Alpha", email="Ann@Acme.Test", phone="+33 1 23",
        role="manager", status="inactive", groups="Night; drivers;night", tokens="b-2;A-1;a-1",
        valid_until="2030-06-30",
    )  # fmt: skip
    assert parsed.errors == ()
    assert (parsed.first_name, parsed.email, parsed.email_key) == (
        "Ann",
        "Ann@Acme.Test",
        "ann@acme.test",
    )
    assert (parsed.role, parsed.status) == (Role.MANAGER, "Inactive")
    assert parsed.groups == ("drivers", "Night")
    assert parsed.tokens == ("A-1", "b-2")
    assert parsed.valid_until == "2030-06-30T22:00:00.000000Z"  # end of 30 June in Paris
    assert parsed.key == "ann.alpha" and parsed.identifier is None


def test_absent_columns_are_none_and_present_empty_ones_clear() -> None:
    absent = row(first_name="A", last_name="B", email="a@b.test")
    assert absent.groups is None and absent.tokens is None and "phone" not in absent.given
    empty = row(first_name="A", last_name="B", email="a@b.test", groups="", tokens="", phone="")
    assert empty.groups == () and empty.tokens == () and "phone" in empty.given


@pytest.mark.parametrize(
    ("cells", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "ann at acme"}, "email"),
        ({"email": "ann@localhost"}, "email"),
        ({"role": "Emperor"}, "role"),
        ({"status": "Sleeping"}, "status"),
        ({"phone": "call me"}, "phone"),
        ({"valid_until": "soon"}, "valid_until"),
        ({"tokens": "X" * 37}, "tokens"),
        ({"first_name": "A" * 101}, "first_name"),
        ({"last_name": "nul\x00byte"}, None),
    ],
)
def test_each_bad_value_is_reported_with_its_line_and_field(
    cells: dict[str, str], field: str | None
) -> None:
    base = {"first_name": "Ann", "last_name": "Alpha", "email": "ann@acme.test"}
    parsed = row(**{**base, **cells})
    assert [(e.line, e.field) for e in parsed.errors] == [(7, field)]


def test_extra_cells_are_an_error_but_missing_ones_are_empty() -> None:
    header, _ = check_header(["first_name", "last_name", "email", "phone"])
    short = parse_row(3, header, ["A", "B", "a@b.test"], PARIS)
    assert short.errors == () and short.phone is None
    long = parse_row(3, header, ["A", "B", "a@b.test", "", "", "oops"], PARIS)
    assert [e.message for e in long.errors] == ["the row has 6 cells, the header 4"]


def test_csv_line_numbers_are_physical_lines() -> None:
    data = b'first_name,last_name,email\n\n"Multi\nLine",X,a@b.test\r\n,,\nC,D,c@d.test\n'
    table = read_table(data, "csv")
    assert [r.line for r in table.rows] == [3, 6]
    assert table.rows[0].cells[0] == "Multi\nLine"


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (b"", None, "empty"),
        (b"  \n\n", None, "empty"),
        (b"\nfirst_name\n", 1, "header"),
        (b"a,b\n\xe9t\xe9,x\n", 2, "UTF-8"),
        (b'a,b\n"open,x\ny,z\n', 2, "not CSV"),
    ],
)
def test_unreadable_csv_files_say_where(data: bytes, line: int | None, words: str) -> None:
    with pytest.raises(TableError) as caught:
        read_table(data, "csv")
    assert caught.value.error.line == line and words in caught.value.error.message


def test_the_charset_and_delimiter_are_honoured() -> None:
    data = "first_name;last_name;email\nZoë;Z;z@z.test\n".encode("cp1252")
    table = read_table(data, "csv", "windows-1252")
    assert table.rows[0].cells == ("Zoë", "Z", "z@z.test")
    tabs = read_table(b"a\tb\n1\t2\n", "csv")
    assert tabs.header == ("a", "b")
    with pytest.raises(TableError):
        read_table(b"a,b\n", "csv", "no-such-charset")
    bom = read_table("\ufefffirst_name,email\nA,a@b.test\n".encode(), "csv")
    assert bom.header == ("first_name", "email")


def test_content_types() -> None:
    assert file_kind("text/csv; charset=ISO-8859-1") == ("csv", "ISO-8859-1")
    assert file_kind("Text/CSV") == ("csv", None)
    assert file_kind(XLSX_TYPE) == ("xlsx", None)
    assert file_kind("application/json") is None
    assert file_kind(None) is None


def test_a_broken_workbook_is_a_table_error() -> None:
    with pytest.raises(TableError) as caught:
        read_table(b"PK\x03\x04garbage", "xlsx")
    assert "XLSX" in caught.value.error.message


cell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    max_size=12,
).map(str.strip)


@given(st.lists(st.lists(cell_text, min_size=3, max_size=3), min_size=1, max_size=6))
def test_written_files_read_back_cell_for_cell(rows: list[list[str]]) -> None:
    rows = [r for r in rows if any(r)]
    header = ["first_name", "last_name", "email"]
    for data, kind in ((write_csv(header, rows), "csv"), (write_xlsx(header, rows, "m"), "xlsx")):
        table = read_table(data, kind)
        assert table.header == tuple(header)
        read = [[*r.cells, *[""] * (len(header) - len(r.cells))] for r in table.rows]
        assert read == rows  # an empty trailing XLSX cell is no cell: read as empty
        assert [r.line for r in table.rows] == list(range(2, len(rows) + 2))


def test_every_column_is_documented_in_the_module() -> None:
    import gateway.members.sync_rows as module

    assert module.__doc__ is not None
    for column in COLUMNS:
        assert f"\n{column} " in module.__doc__
