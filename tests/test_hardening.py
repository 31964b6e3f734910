"""Hardening (issue 18): one bad document never costs a run, nothing is dropped silently, every error is one line.

Each case runs the ``tidemark`` command (in-process through its entry point, or as a child process where a signal
or the peak memory matters) on a real DuckDB file, and asserts the exit code, the one-line message, what was written
and what was quarantined.
"""

from __future__ import annotations

import gzip
import json
import re
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import GAME_747175, snapshot, write_docs
from tidemark.cli import main as cli

PLAYS = "game.live_game_plays"
META = "game.live_game_metadata"


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]
    finally:
        con.close()


def quarantine(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT * FROM _tidemark.quarantine ORDER BY origin, table_name, row_key")


def run_args(db: Path, *inputs: Path, mapping: str = "mlb:live_game") -> list[str]:
    args = ["run", "--mapping", mapping, "--sink", f"duckdb:{db}"]
    for path in inputs:
        args += ["--input", str(path)]
    return args


# -- item 1: an integer beyond 64 bits ------------------------------------------------------------------------------
def test_an_integer_beyond_64_bits_is_quarantined_and_the_rest_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    huge = 2**70

    def huge_inning(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][9]["about"]["inning"] = huge

    paths = write_docs(tmp_path / "docs", [snapshot(feed_747175, edit=huge_inning), snapshot(feed_747175, game_pk=2)])
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, *paths)) == 1
    out = capsys.readouterr().out
    # the play, and the statcast pitches that carry its inning; its children are refused as orphans (issue 18 #4)
    assert "8 row(s) refused" in out
    lines = [x for x in out.splitlines() if str(huge) in x]
    assert len(lines) == 3 and all(f"inning: {huge} is not a valid int" in x and str(paths[0]) in x for x in lines)
    counts = query(db, f"SELECT game_pk, count(*) AS n FROM {PLAYS} GROUP BY game_pk ORDER BY game_pk")
    assert counts == [{"game_pk": 2, "n": 75}, {"game_pk": 747175, "n": 74}]
    assert query(db, f"SELECT count(*) AS n FROM {PLAYS} WHERE game_pk = 747175 AND at_bat_index = 9") == [{"n": 0}]
    entries = quarantine(db)
    refused = [PLAYS, "game.statcast_pitches", "game.statcast_pitches", "game.live_game_pitch_events"]
    refused += ["game.live_game_pitch_events", "game.live_game_hit_data", "game.live_game_runners"]
    refused += ["game.live_game_fielding_credits"]
    assert sorted(e["table_name"] for e in entries) == sorted(refused)
    (entry,) = [e for e in entries if e["table_name"] == PLAYS]
    assert entry["origin"] == str(paths[0])
    assert json.loads(entry["row_key"]) == {"at_bat_index": 9, "game_pk": 747175}
    assert json.loads(entry["row_data"])["inning"] == huge  # the value as the document held it
    assert str(huge) in entry["reason"]


# -- item 3: a gzip bomb --------------------------------------------------------------------------------------------
def gzip_bomb(path: Path, expanded_mb: int) -> None:
    """A .json.gz of ``expanded_mb`` MiB of JSON whitespace: gzip members of 1 MiB each, concatenated (one member
    compresses to about 1 kB, so the file is written in no time and stays small)."""
    member = gzip.compress(b" " * 2**20, compresslevel=9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(b'{"response": '))
        for _ in range(expanded_mb):
            fh.write(member)


def run_child(args: list[str], tmp_path: Path) -> tuple[int, str, str, int]:
    """``tidemark ARGS`` in a child process: exit code, stdout, stderr and the child's peak RSS in bytes.

    The peak is the child's own VmHWM, written as it exits: it counts only memory of the process after exec (the
    rusage of a child also counts the test process's pages it shared between fork and exec)."""
    peak_file = tmp_path / "peak"
    code = (
        "import atexit, sys\n"
        "def peak():\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        f"    open({str(peak_file)!r}, 'w').write(status)\n"
        "atexit.register(peak)\n"
        "from tidemark.cli.main import main\n"
        f"sys.argv = ['tidemark', *{args!r}]\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr, int(peak_file.read_text()) * 1024


def test_a_gzip_bomb_is_rejected_unread_and_the_other_documents_written(
    tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    expanded_mb, cap_mb = 600, 8
    bomb = tmp_path / "docs" / "bomb.json.gz"
    good = write_docs(tmp_path / "docs", [snapshot(feed_747175, plays=3)])
    gzip_bomb(bomb, expanded_mb)
    assert bomb.stat().st_size < 2_000_000
    db = tmp_path / "t.duckdb"
    args = [*run_args(db, tmp_path / "docs"), "--max-document-mb", str(cap_mb)]
    code, out, err, peak = run_child(args, tmp_path)
    assert code == 1, err
    assert "Traceback" not in err
    assert "1 document(s) rejected" in out
    (line,) = [x for x in out.splitlines() if "bomb.json.gz" in x]
    assert f"document larger than {cap_mb} MB" in line and "--max-document-mb" in line
    # the whole decompressed document never sat in memory: the child's peak stays well below its expanded size
    # (the interpreter with pyarrow and DuckDB loaded takes ~200 MB; reading the bomb whole would add 600 MB)
    assert peak < 450 * 2**20, f"peak RSS {peak / 2**20:.0f} MB"
    assert query(db, f"SELECT count(*) AS n FROM {PLAYS}") == [{"n": 3}]
    (entry,) = [e for e in quarantine(db) if e["table_name"] is None]  # cut-down plays also leave orphans
    assert entry["origin"] == str(bomb) and entry["table_name"] is None
    assert f"document larger than {cap_mb} MB" in entry["reason"]
    assert good[0].exists()


def test_an_ndjson_line_past_the_cap_is_rejected_alone(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    small = json.dumps({"response": snapshot(feed_747175, plays=2)}).encode()
    path = tmp_path / "feeds.ndjson"
    long_line = b'{"response": ' + b" " * (3 * 2**20) + b"}"
    later = json.dumps({"response": snapshot(feed_747175, plays=2, game_pk=5)}).encode()
    path.write_bytes(small + b"\n" + long_line + b"\n\n" + later + b"\n")
    db = tmp_path / "t.duckdb"
    result = tidemark.run("mlb:live_game", [path], f"duckdb:{db}", max_document_bytes=2 * 2**20)
    assert [(r.origin, "document larger than 2 MB" in r.reason) for r in result.rejected] == [(f"{path}:2", True)]
    assert result.documents == 2
    assert query(db, f"SELECT game_pk FROM {META} ORDER BY game_pk") == [{"game_pk": 5}, {"game_pk": 747175}]


# -- item 9: messages print as plain text ---------------------------------------------------------------------------
def test_a_message_with_brackets_prints_as_it_is(tmp_path: Path) -> None:
    """`pip install 'tidemark-etl[postgres]'` keeps its `[postgres]` despite Rich markup (psycopg made unimportable)."""
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from tidemark.cli.main import main\n"
        f"sys.argv = ['tidemark', 'run', '-m', 'mlb:live_game', '-i', {str(GAME_747175)!r},"
        " '-s', 'postgresql://reader@127.0.0.1:9/db']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == ["error: psycopg is not installed: pip install 'tidemark-etl[postgres]'"]


def test_a_mapping_problem_with_brackets_prints_as_it_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        'source: {name: live, document: $.response, timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}}\n'
        "targets:\n"
        "  - table: g.plays\n"
        "    rows: $.liveData.plays.allPlays[*]\n"
        "    primary_key: [game_pk]\n"
        '    fields: [{name: game_pk, path: $.gamePk, type: "[bold]int"}]\n',
        encoding="utf-8",
    )
    assert call_main(monkeypatch, "validate", str(mapping)) == 1
    err = capsys.readouterr().err
    assert "unknown type '[bold]int'" in err
    assert "targets[0].fields[0].type" in err


# -- item 10: Ctrl-C and a full disk --------------------------------------------------------------------------------
def many_documents(path: Path, feed: dict[str, Any], count: int) -> None:
    """An NDJSON file of ``count`` small games (20 plays each): a run over it lasts a few seconds."""
    with path.open("wb") as fh:
        for game_pk in range(1, count + 1):
            fh.write(json.dumps({"response": snapshot(feed, plays=20, game_pk=game_pk)}).encode() + b"\n")


def test_ctrl_c_prints_one_line_exits_130_and_writes_nothing(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    docs = tmp_path / "games.ndjson"
    many_documents(docs, feed_747175, 400)
    db = tmp_path / "t.duckdb"
    script = Path(sys.executable).parent / "tidemark"
    proc = subprocess.Popen(
        [str(script), *run_args(db, docs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while not db.exists():  # the sink is open: the run has started (it lasts seconds more)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    (line,) = err.strip().splitlines()
    assert re.fullmatch(r"interrupted: rolled back, nothing written; [\d,]+ documents were processed", line), line
    assert "run " not in out  # no summary: nothing was committed
    tables = query(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'game'")
    assert tables == []


def test_a_full_disk_under_duckdb_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """The store's file may not grow past 1 MB (RLIMIT_FSIZE: the OS refuses the write as on a full disk)."""

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # refuse the write with EFBIG instead of killing the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

    db = tmp_path / "t.duckdb"
    script = Path(sys.executable).parent / "tidemark"
    proc = subprocess.run(
        [str(script), *run_args(db, GAME_747175.parent)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=small_disk,  # runs in the child before exec: only the tidemark process is limited
    )
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: duckdb:{db} ran out of space (") and "File too large" in line
    assert line.endswith(
        "the run was rolled back, nothing was written. Free disk space (or raise the quota) and run it again"
    )
    tables = query(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'game'")
    assert tables == []


# -- item 12: minor -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "bom", "named"),
    [
        ("utf-16-le", b"\xff\xfe", "UTF-16 (little-endian, with a byte order mark)"),
        ("utf-16-be", b"", "UTF-16"),
        ("utf-32-le", b"", "UTF-32"),
    ],
    ids=["utf16-le-bom", "utf16-be", "utf32-le"],
)
def test_a_utf16_document_is_rejected_naming_its_encoding(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    feed_747175: dict[str, Any],
    encoding: str,
    bom: bytes,
    named: str,
) -> None:
    write_docs(tmp_path / "docs", [snapshot(feed_747175, plays=3)])
    wide = tmp_path / "docs" / "wide.json"
    wide.write_bytes(bom + json.dumps({"response": snapshot(feed_747175, game_pk=2)}).encode(encoding))
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, tmp_path / "docs")) == 1
    out = capsys.readouterr().out
    reason = f"document is {named} encoded: tidemark reads UTF-8 JSON; convert it (iconv -f {named[:6]} -t UTF-8)"
    assert f"  {wide}: {reason}" in out.splitlines()
    assert "surrogates" not in out
    assert "(upsert, 2 documents, 1 rejected)" in out  # the header counts every document read
    assert query(db, f"SELECT game_pk FROM {META}") == [{"game_pk": 747175}]
    (entry,) = [e for e in quarantine(db) if e["table_name"] is None]  # cut-down plays also leave orphans
    assert (entry["origin"], entry["reason"]) == (str(wide), reason)


def test_documents_in_memory_in_utf16_are_rejected_too(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    doc = json.dumps({"response": snapshot(feed_747175, plays=2)})
    result = tidemark.run("mlb:live_game", [doc.encode("utf-16"), doc.encode()], f"duckdb:{tmp_path / 't.duckdb'}")
    assert [(r.origin, r.reason.split(":")[0]) for r in result.rejected] == [
        ("document 0", "document is UTF-16 (little-endian, with a byte order mark) encoded")
    ]
    assert result.documents == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--table", "r.m"],
            "error: no sink: give --sink duckdb:warehouse.duckdb (or a write block with a connection)",
        ),
        (
            ["--table", "r.m", "--sink", "duckdb:{db}"],
            "error: mode upsert needs keys: give --keys COLUMN,... (the columns that identify a row) or "
            "--key NAME=COLUMN,... to compute one; or write with --mode append / overwrite",
        ),
        (["--sink", "duckdb:{db}"], "error: no table: give --table schema.table (or a write block with path / table)"),
        (["--sink", "duckdb:{db}", "--table", "r.m", "--mode", "upsertt"], "error: unknown mode 'upsertt'"),
    ],
    ids=["no-sink", "no-keys", "no-table", "bad-mode"],
)
def test_write_errors_name_the_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("id,at\n1,2024-01-01T00:00:00Z\n", encoding="utf-8")
    db = tmp_path / "t.duckdb"
    code = call_main(monkeypatch, "write", str(data), *(a.format(db=db) for a in args))
    assert code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(message), line
    assert "=[" not in line and "sink=" not in line and "mode=" not in line
    assert not db.exists() or query(
        db, "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'r'"
    ) == [{"n": 0}]


# -- first use --------------------------------------------------------------------------------------------------------
def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert call_main(monkeypatch, "--version") == 0
    assert capsys.readouterr().out.strip() == f"tidemark {tidemark.__version__}"


def cut(feed: dict[str, Any], plays: int, game_pk: int) -> dict[str, Any]:
    """The first ``plays`` plays of the feed as a consistent document: its scoring plays cut to match (a scoring
    play without its play is an orphan row, refused under the contract)."""

    def scoring(doc: dict[str, Any]) -> None:
        kept = doc["liveData"]["plays"]["scoringPlays"]
        doc["liveData"]["plays"]["scoringPlays"] = [i for i in kept if i < plays]

    return snapshot(feed, plays=plays, game_pk=game_pk, edit=scoring)


def test_run_takes_several_inputs_after_one_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    """`--input docs/*.json.gz`: the shell expands the glob into several values after one flag."""
    paths = write_docs(tmp_path / "docs", [cut(feed_747175, 2, n) for n in (1, 2, 3)])
    db = tmp_path / "t.duckdb"
    args = ["run", "-m", "mlb:live_game", "--input", *map(str, paths), "--sink", f"duckdb:{db}"]
    assert call_main(monkeypatch, *args) == 0
    assert "(upsert, 3 documents)" in capsys.readouterr().out
    assert query(db, f"SELECT game_pk FROM {META} ORDER BY game_pk") == [{"game_pk": n} for n in (1, 2, 3)]


def run_stdin(db: Path, data: bytes) -> subprocess.CompletedProcess[bytes]:
    script = Path(sys.executable).parent / "tidemark"
    args = ["run", "-m", "mlb:live_game", "-i", "-", "-s", f"duckdb:{db}"]
    return subprocess.run([str(script), *args], input=data, capture_output=True, timeout=120, check=False)


def test_run_reads_ndjson_or_one_document_from_stdin(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    lines = [json.dumps({"response": cut(feed_747175, 2, n)}) for n in (1, 2)]
    ndjson = run_stdin(tmp_path / "a.duckdb", ("\n".join(lines) + "\n\n{broken\n").encode())
    assert ndjson.returncode == 1, ndjson.stderr
    assert "(upsert, 3 documents, 1 rejected)" in ndjson.stdout.decode()
    assert "  <stdin>:4: not valid JSON" in ndjson.stdout.decode()
    assert query(tmp_path / "a.duckdb", f"SELECT game_pk FROM {META} ORDER BY 1") == [{"game_pk": 1}, {"game_pk": 2}]
    pretty = json.dumps({"response": cut(feed_747175, 2, 7)}, indent=2).encode()
    whole = run_stdin(tmp_path / "b.duckdb", pretty)
    assert whole.returncode == 0, whole.stderr
    assert "(upsert, 1 documents)" in whole.stdout.decode()
    assert query(tmp_path / "b.duckdb", f"SELECT count(*) AS n FROM {PLAYS} WHERE game_pk = 7") == [{"n": 2}]


def test_stdin_is_read_alone(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "-m", "mlb:live_game", "-i", "-", str(GAME_747175), "-s", "duckdb::memory:"]
    assert call_main(monkeypatch, *args) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --input -: standard input is read alone; give files and directories in another run"
    )


def test_importing_tidemark_and_its_command_loads_nothing_heavy() -> None:
    code = (
        "import sys, tidemark, tidemark.cli.main\n"
        "heavy = ('pyarrow', 'duckdb', 'psycopg', 'deltalake', 'pyspark', 'pandas', 'sqlglot', 'msgspec')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
        "from tidemark import run, RunResult\n"  # the public names still resolve, on first use
        "print(run.__module__, RunResult.__name__, 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.splitlines() == ["[]", "tidemark.runtime.batch RunResult True"]


def test_run_takes_dicts_bytes_and_pairs_with_their_capture_time(tmp_path: Path) -> None:
    """As an API client returns them: the boxscore carries no time, the pair gives it (its mapping reads it)."""
    record = json.loads(
        gzip.decompress((GAME_747175.parents[1] / "boxscore").glob("*.json.gz").__next__().read_bytes())
    )
    older, newer = datetime(2024, 10, 27, 12, tzinfo=UTC), datetime(2024, 10, 28, 12)  # a naive time is UTC
    db = tmp_path / "t.duckdb"
    result = tidemark.run("mlb:boxscore", [(record, newer), (json.dumps(record).encode(), older)], f"duckdb:{db}")
    assert result.ok and result.documents == 2
    assert result.tables["game.boxscore_teams"].inserted == 2
    rows = query(db, "SELECT DISTINCT captured_at FROM game.boxscore_teams")
    assert [r["captured_at"].astimezone(UTC) for r in rows] == [newer.replace(tzinfo=UTC)]


def test_a_result_prints_in_a_few_lines(tmp_path: Path) -> None:
    result = tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{tmp_path / 't.duckdb'}")
    text = repr(result)
    assert text.splitlines() == [
        f"RunResult(run {result.run_id} -> duckdb:{tmp_path / 't.duckdb'}, upsert: 1 documents, 0 rejected, "
        "0 rows refused;",
        f"  {len(result.tables)} tables: inserted={result.inserted:,}, updated=0, unchanged=0, skipped=0, deleted=0, "
        "error=0)",
    ]


def test_tidemark_write_stays_the_function_when_its_package_is_imported_later() -> None:
    code = (
        "import tidemark, tidemark.write.config, tidemark.write.api\n"
        "print(callable(tidemark.write), tidemark.write is tidemark.write.__globals__['write'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["True", "True"]


# -- item 7: nothing dropped silently -------------------------------------------------------------------------------
TYPO_MAPPING = """\
source: {name: live, document: $.response, timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}}
targets:
  - table: g.plays
    rows: $.liveData.plays.allPlays[*]
    primary_key: [game_pk, at_bat_index]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint}
      - {name: at_bat_index, path: about.atBatIndex, type: int}
      - {name: inning, path: about.inings, type: int}
"""


@pytest.mark.parametrize("strict", [False, True], ids=["warning", "strict"])
def test_a_column_null_in_every_row_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, strict: bool
) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(TYPO_MAPPING, encoding="utf-8")
    db = tmp_path / "t.duckdb"
    args = run_args(db, GAME_747175, mapping=str(mapping)) + (["--strict"] if strict else [])
    assert call_main(monkeypatch, *args) == (1 if strict else 0)
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: g.plays.inning is NULL in all 75 rows: check its path (a typo?)"]
    assert query(db, "SELECT count(*) AS n, count(inning) AS filled FROM g.plays") == [{"n": 75, "filled": 0}]
    quarantined = (  # no quarantine table at all (the run ledger and the applied-documents ledger are there)
        "SELECT count(*) AS n FROM information_schema.tables "
        "WHERE table_schema = '_tidemark' AND table_name = 'quarantine'"
    )
    assert query(db, quarantined) == [{"n": 0}] or quarantine(db) == []


def test_a_mapping_making_no_rows_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, GAME_747175, mapping="mlb:boxscore"), "--strict") == 1
    out = capsys.readouterr().out
    assert "warning: the mapping produced no rows from 1 documents: is it the mapping for these files?" in out
    assert query(db, "SELECT count(*) AS n FROM game.boxscore_teams") == [{"n": 0}]


def test_an_integer_beyond_64_bits_in_a_json_column_is_stored_exactly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    huge = 2**70

    def huge_challenge(doc: dict[str, Any]) -> None:
        doc["gameData"]["absChallenges"] = {"count": huge}

    paths = write_docs(tmp_path / "docs", [snapshot(feed_747175, edit=huge_challenge)])
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, *paths)) == 0
    (row,) = query(db, f"SELECT abs_challenges::VARCHAR AS v FROM {META}")
    assert json.loads(row["v"]) == {"count": huge}
    assert query(db, f"SELECT count(*) AS n FROM {PLAYS}") == [{"n": 75}]


# -- item 8: the snapshot time taken from the file ---------------------------------------------------------------
def test_a_snapshot_time_from_the_file_is_said_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    schedules = sorted((Path(__file__).parents[1] / "data/statsapi/schedule").rglob("*.json.gz"))
    assert schedules, "the bundled schedule recordings"
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, *schedules, mapping="mlb:schedule")) == 0
    out = capsys.readouterr().out
    said = [line for line in out.splitlines() if "modification time was used" in line]
    assert len(said) == 1
    assert f"{len(schedules)} of {len(schedules)} documents carry no snapshot time" in said[0]
    assert call_main(monkeypatch, *run_args(db, *schedules, mapping="mlb:schedule"), "--strict", "--reprocess") == 1
