"""Sources: documents with ordered positions, read again from the start or after a position; open_source's choice."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tidemark.documents import RawDocument, as_position, position_key
from tidemark.errors import ConfigError, SourceError
from tidemark.sources import DocumentsSource, FileSource, IteratorSource, open_source
from tidemark.write.files import expand_files


def tree(root: Path) -> Path:
    """Nested directories whose names order differently as strings than as paths ('a.b' < 'a/' as text)."""
    for rel, body in {
        "a/2.json": {"n": 2},
        "a/10.json": {"n": 10},
        "a.b/1.json": {"n": 1},
        "b/lines.ndjson": None,
        "b/zipped.json.gz": {"n": 99},
        "b/notes.txt": {"n": -1},  # not a document file: not listed
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ndjson"):
            path.write_text('{"line": 1}\n\n{"line": 3}\n{"line": 4}\n', encoding="utf-8")
        elif rel.endswith(".gz"):
            path.write_bytes(gzip.compress(json.dumps(body).encode()))
        else:
            path.write_text(json.dumps(body), encoding="utf-8")
    return root


def test_file_positions_are_ordered_as_the_files_are_read(tmp_path: Path) -> None:
    single = tmp_path / "single.json"
    single.write_text("{}", encoding="utf-8")
    source = FileSource([tree(tmp_path / "in"), single])
    docs = list(source.read())
    assert [d.position for d in docs] == [
        (0, "a", "10.json", 0),
        (0, "a", "2.json", 0),
        (0, "a.b", "1.json", 0),
        (0, "b", "lines.ndjson", 1),
        (0, "b", "lines.ndjson", 3),  # line 2 is blank: no document, the numbers stay the file's
        (0, "b", "lines.ndjson", 4),
        (0, "b", "zipped.json.gz", 0),
        (1, "single.json", 0),
    ]
    positions = [d.position for d in docs if d.position is not None]
    assert positions == sorted(positions, key=position_key) and len(set(positions)) == len(docs)
    assert [d.origin.rsplit("/", 1)[-1] for d in docs[3:6]] == ["lines.ndjson:1", "lines.ndjson:3", "lines.ndjson:4"]
    assert (source.files, source.replayable) == (6, True)
    listed = [single, *(p for p in (tmp_path / "in").rglob("*") if p.is_file() and p.suffix != ".txt")]
    assert source.total_bytes == sum(p.stat().st_size for p in listed) and len(listed) == 6
    assert [d.data for d in source.read()] == [d.data for d in docs]  # replayable: the same documents again


@pytest.mark.parametrize("cut", range(8))
def test_reading_after_a_position_resumes_right_after_it(tmp_path: Path, cut: int) -> None:
    """After any document (a whole file, an NDJSON line): exactly the documents that came after it."""
    single = tmp_path / "single.json"
    single.write_text("{}", encoding="utf-8")
    source = FileSource([tree(tmp_path / "in"), single])
    docs = list(source.read())
    after = docs[cut].position
    assert after is not None
    stored = as_position(json.loads(json.dumps(after)))  # as a checkpoint keeps it: a JSON array
    assert [d.position for d in source.read(after=stored)] == [d.position for d in docs[cut + 1 :]]


def test_a_position_of_other_inputs_does_not_break_the_order(tmp_path: Path) -> None:
    source = FileSource([tree(tmp_path / "in")])
    every = [d.position for d in source.read()]
    assert [d.position for d in source.read(after=(0, "a", 7))] == every  # an int sorts before a name
    assert [d.position for d in source.read(after=(0, "a", "z"))] == every[2:]  # after a/10.json and a/2.json
    assert list(source.read(after=(1,))) == []


def test_documents_in_memory_are_replayable_and_resume_after_a_position() -> None:
    source = DocumentsSource([b'{"a": 1}', {"a": 2}, RawDocument(b'{"a": 3}', "mine")])
    docs = list(source.read())
    assert [d.position for d in docs] == [(0,), (1,), (2,)]
    assert [d.origin for d in docs] == ["document 0", "document 1", "mine"]
    assert json.loads(docs[1].data) == {"a": 2}
    assert (source.files, source.total_bytes, source.replayable) == (3, sum(len(d.data) for d in docs), True)
    assert [d.origin for d in source.read(after=(0,))] == ["document 1", "mine"]
    assert [d.data for d in source.read()] == [d.data for d in docs]


def test_a_stream_of_documents_is_read_once() -> None:
    source = IteratorSource(iter([b"{}", b"[]"]))
    assert not source.replayable
    assert [d.position for d in source.read()] == [(0,), (1,)]
    with pytest.raises(SourceError, match="cannot be read again"):
        source.read()


def test_open_source_picks_the_source_for_what_it_is_given(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text("{}", encoding="utf-8")
    assert isinstance(open_source(path), FileSource)
    assert isinstance(open_source(str(path)), FileSource)
    assert isinstance(open_source([path, tmp_path]), FileSource)
    assert isinstance(open_source(p for p in [path]), FileSource)  # an iterable of paths: files
    assert isinstance(open_source([RawDocument(b"{}", "x")]), DocumentsSource)
    assert isinstance(open_source([]), DocumentsSource)
    assert isinstance(open_source(d for d in [b"{}"]), IteratorSource)
    given = DocumentsSource([])
    assert open_source(given) is given
    with pytest.raises(ConfigError, match="mix paths and documents"):
        open_source([path, b"{}"])
    with pytest.raises(SourceError, match="input not found"):
        open_source([tmp_path / "missing.json"])
    with pytest.raises(SourceError, match="document 0 is a int"):
        list(DocumentsSource([1]).read())


def test_one_walker_serves_documents_and_flat_files(tmp_path: Path) -> None:
    """``tidemark write`` lists its files with the same walker, with its own file types."""
    root = tmp_path / "flat"
    (root / "x").mkdir(parents=True)
    for name in ["x/b.csv", "x/a.parquet", "c.ndjson", "skip.txt"]:
        (root / name).write_text("", encoding="utf-8")
    assert [p.relative_to(root).as_posix() for p in expand_files([root])] == ["c.ndjson", "x/a.parquet", "x/b.csv"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no CSV, Parquet or JSON files"):
        expand_files([tmp_path / "empty"])
