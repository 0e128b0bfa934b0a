"""Randomly mangled CSV files always get an answer: exit 0 or 1, a message, never a traceback.

Hypothesis starts from a small valid source and inserts, deletes and replaces bytes, truncates
files, repeats lines and the header, swaps lines and quotes, and changes line ends.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.helpers import headroom, loaded_files, write_source

SUBSCRIPTIONS = (
    b"subscription_id,account_id,start_date,end_date,mrr,plan,seats\n"
    b"s1,a1,2024-01-01,2024-06-01,100.50,Starter,5\n"
    b"s2,a1,2024-06-01,,200,Pro,10\n"
    b's3,a2,2024-03-15,,49.99,"Pro, annual",2\n'
)
ACCOUNTS = (
    b'account_id,name,segment,timezone\na1,"Acme\nInc",smb,Europe/Berlin\na2,Beta,mid_market,\n'
)
EVENTS = (
    b"event_id,account_id,event,timestamp,properties\n"
    b'e1,a1,upgrade_click,2024-01-02T10:00:00Z,"{""feature"": ""sso""}"\n'
    b"e2,a2,pricing_page_view,2024-01-03T10:00:00+02:00,\n"
)

SNIPPETS = [b",", b'"', b"\n", b"\r", b"\r\n", b"\x00", b"\xff\xfe", b";", b" ", b"\xef\xbb\xbf"]
OPERATIONS = [
    "insert",
    "delete",
    "replace",
    "truncate",
    "repeat_line",
    "repeat_header",
    "swap_lines",
    "quotes",
    "line_ends",
]


@st.composite
def mangled(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(OPERATIONS))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "insert":
            data[pos:pos] = draw(st.sampled_from(SNIPPETS) | st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 6))]
        elif op == "replace" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op in ("repeat_line", "repeat_header", "swap_lines"):
            lines = bytes(data).split(b"\n")
            k = 0 if op == "repeat_header" else draw(st.integers(0, len(lines) - 1))
            if op == "swap_lines":
                j = draw(st.integers(0, len(lines) - 1))
                lines[k], lines[j] = lines[j], lines[k]
            else:
                lines.insert(k, lines[k])
            data = bytearray(b"\n".join(lines))
        elif op == "quotes":
            swap = draw(st.sampled_from([(b'"', b"'"), (b"'", b'"'), (b",", b'","'), (b'"', b"")]))
            data = bytearray(bytes(data).replace(*swap))
        elif op == "line_ends":
            data = bytearray(bytes(data).replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r"]))))
    return bytes(data)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    subscriptions=mangled(SUBSCRIPTIONS),
    accounts=mangled(ACCOUNTS),
    events=mangled(EVENTS),
    fmt=st.sampled_from(["table", "json", "csv"]),
)
def test_mangled_csv_gets_a_clean_answer(
    tmp_path: Path, workspace: Path, subscriptions: bytes, accounts: bytes, events: bytes, fmt: str
) -> None:
    folder = write_source(
        tmp_path / uuid.uuid4().hex,
        {"subscriptions.csv": subscriptions, "accounts.csv": accounts, "events.csv": events},
    )
    before = loaded_files(workspace)
    run = headroom("validate", str(folder), "--today", "2026-11-01", "--format", fmt)
    assert run.code in (0, 1), run.err
    if run.code == 1:
        assert run.err.startswith("error: ")
        assert run.err.endswith("\n")
        assert loaded_files(workspace) == before  # nothing of a source with errors is loaded
    else:
        assert run.err == ""
