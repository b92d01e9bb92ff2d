"""The original texts kept beside a database: exact round trips, and the file's safety."""

from __future__ import annotations

import errno
import io
import random
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import Result

from auditcli import rawtexts
from auditcli.errors import StoreError
from auditcli.ingest.sources import expand
from auditcli.load import LoadOptions, load
from auditcli.query import EventFilter
from auditcli.rawtexts import (
    FRAME_TEXTS,
    HEADER_SIZE,
    MAGIC,
    FileTexts,
    MemoryTexts,
    new_file_id,
    texts_path,
)
from auditcli.store import Store
from tests.conftest import event, jsonl

Run = Callable[..., Result]

_TEXTS = st.lists(
    st.one_of(st.text(max_size=40), st.text(min_size=1, max_size=8).map(lambda t: t * 1500)),
    max_size=70,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_TEXTS, min_size=1, max_size=3), st.randoms(use_true_random=False))
def test_texts_read_back_exactly_in_any_order(
    tmp_path_factory: pytest.TempPathFactory, appends: list[list[str]], rng: random.Random
) -> None:
    path = tmp_path_factory.mktemp("texts") / "db.raw"
    texts = FileTexts(path, new_file_id(), HEADER_SIZE)
    kept: list[tuple[int, str]] = []
    for batch in appends:
        array = pa.array(batch, pa.string())
        sliced = array.slice(1) if len(array) > 1 else array  # an offset into its buffers
        refs = texts.append(sliced).to_pylist()
        kept.extend(zip(refs, sliced.to_pylist(), strict=True))
    rng.shuffle(kept)
    wanted = [ref for ref, _ in kept]
    wanted.insert(len(wanted) // 2, None)
    expected: list[str | None] = [text for _, text in kept]
    expected.insert(len(expected) // 2, None)
    assert texts.fetch(pa.array(wanted, pa.int64())).to_pylist() == expected
    texts.close()
    reopened = FileTexts(path, texts.file_id.hex(), texts.end)
    assert reopened.fetch(pa.array(wanted, pa.int64())).to_pylist() == expected
    reopened.close()


def test_texts_are_framed_a_few_at_a_time(tmp_path: Path) -> None:
    texts = FileTexts(tmp_path / "db.raw", new_file_id(), HEADER_SIZE)
    refs = texts.append(pa.array([f"text {i}" for i in range(3 * FRAME_TEXTS + 1)]))
    frames = {ref >> 8 for ref in refs.to_pylist()}
    assert len(frames) == 4
    texts.close()


def test_appends_are_written_to_disk_behind_and_the_sync_waits_for_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past WRITE_BEHIND_BYTES, an append starts syncing the file on a helper thread;
    the sync before a commit (and close) waits for it, and the texts read back."""
    started = threading.Event()
    release = threading.Event()
    synced: list[int] = []

    def slow_fdatasync(descriptor: int) -> None:
        started.set()
        release.wait(5)
        synced.append(descriptor)

    monkeypatch.setattr(rawtexts, "WRITE_BEHIND_BYTES", 1000)
    monkeypatch.setattr(rawtexts.os, "fdatasync", slow_fdatasync, raising=False)
    texts = FileTexts(tmp_path / "db.raw", new_file_id(), HEADER_SIZE)
    batches = [[f"batch {b} text {i} " * 20 for i in range(40)] for b in range(3)]
    refs = [texts.append(pa.array(batch)) for batch in batches]
    assert started.wait(5)  # one sync behind the appends, the next ones not stacked on it
    assert [t.name for t in threading.enumerate()].count("auditcli-texts-sync") == 1
    syncing = threading.Thread(target=texts.sync)
    syncing.start()
    syncing.join(0.2)
    assert syncing.is_alive()  # waits for the writing behind
    release.set()
    syncing.join(5)
    assert not syncing.is_alive() and synced
    assert "auditcli-texts-sync" not in [t.name for t in threading.enumerate()]
    for batch, batch_refs in zip(batches, refs, strict=True):
        assert texts.fetch(batch_refs).to_pylist() == batch
    texts.close()


def test_a_failure_met_writing_behind_fails_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel reports a failed write back once: if the helper thread meets it, the
    sync before the commit must fail, not find the file clean."""
    failures = [OSError(errno.EIO, "Input/output error")]

    def fdatasync(descriptor: int) -> None:
        if failures:
            raise failures.pop()

    monkeypatch.setattr(rawtexts, "WRITE_BEHIND_BYTES", 1000)
    monkeypatch.setattr(rawtexts.os, "fdatasync", fdatasync, raising=False)
    texts = FileTexts(tmp_path / "db.raw", new_file_id(), HEADER_SIZE)
    texts.append(pa.array([random.randbytes(200).hex() for _ in range(40)]))
    with pytest.raises(StoreError, match="cannot write .*Input/output error"):
        texts.sync()
    assert not failures  # the helper met it, and sync reported it
    texts.sync()  # reported once, as the kernel does
    texts.close()


def _loaded(run: Run, db: Path, log: Path, *extra: str) -> Result:
    return run("load", "--db", db, log, *extra)


def _raws(run: Run, db: Path) -> list[str]:
    result = run("filter", "--db", db, "--format", "jsonl", "--fields", "raw")
    assert result.exit_code == 0, result.stderr
    return [orjson.loads(line)["raw"] for line in result.stdout.split("\n") if line]


def test_a_database_keeps_its_texts_beside_it_and_gives_them_back_exactly(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    lines = [
        orjson.dumps(event(id=f"e{i}", timestamp=f"2026-03-12T14:02:{i:02d}Z", note="é \u2028"))
        .decode()
        .replace("é", "\\u00e9")  # escapes kept as written
        for i in range(40)
    ]
    lines[3] = lines[3].replace('":', '": ')  # spacing kept as written
    log = write_log("a.jsonl", ("\n".join(lines) + "\n").encode())
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, log).exit_code == 0
    assert texts_path(db).exists()
    assert _raws(run, db) == lines


def _raw_end(db: Path) -> int:
    store = Store.open(db, must_exist=True)
    try:
        return int(store.scalar("SELECT value FROM meta WHERE key = 'raw_end'"))
    finally:
        store.close()


def test_a_rolled_back_load_leaves_the_texts_in_use_as_they_were(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    first = write_log("a.jsonl", [event(id="a1"), event(id="a2")])
    assert _loaded(run, db, first).exit_code == 0
    end = _raw_end(db)
    broken = write_log("b.jsonl", jsonl([event(id="b1")]) + b"not json\n")
    result = _loaded(run, db, broken, "--strict")
    assert result.exit_code == 1
    assert _raw_end(db) == end
    assert [orjson.loads(t)["id"] for t in _raws(run, db)] == ["a1", "a2"]
    assert _loaded(run, db, write_log("c.jsonl", [event(id="c1")])).exit_code == 0
    assert texts_path(db).stat().st_size == _raw_end(db)  # the rolled-back tail was cut
    assert [orjson.loads(t)["id"] for t in _raws(run, db)] == ["a1", "a2", "c1"]


@pytest.mark.parametrize(
    "interrupt",
    [KeyboardInterrupt, lambda: RuntimeError("Query interrupted")],
    ids=["python", "duckdb"],
)
def test_an_interrupt_once_duckdb_has_committed_keeps_the_load(
    write_log: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    interrupt: Callable[[], BaseException],
) -> None:
    """Ctrl-C may land in COMMIT once DuckDB has committed (DuckDB then reports it as
    its own RuntimeError): the load stands, texts and all, and is not reported as
    interrupted."""
    db = tmp_path / "case.duckdb"
    store = Store.open(db)
    committed = Store.execute

    def execute(self: Store, sql: str, params: Any = None) -> None:
        committed(self, sql, params)
        if sql == "COMMIT":
            raise interrupt()

    monkeypatch.setattr(Store, "execute", execute)
    report = load(store, expand([str(write_log("a.jsonl", [event(id="a1"), event(id="a2")]))]))
    monkeypatch.undo()
    assert report.events == 2
    texts = store.arrow_reader("SELECT raw_ref AS raw FROM events ORDER BY source_line")
    assert [orjson.loads(t)["id"] for t in texts.read_all().column(0).to_pylist()] == ["a1", "a2"]
    store.close()
    assert texts_path(db).stat().st_size == _raw_end(db)


def test_an_interrupt_that_stops_the_commit_keeps_nothing(
    write_log: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "case.duckdb"
    store = Store.open(db)
    end = _raw_end(db)
    executed = Store.execute

    def execute(self: Store, sql: str, params: Any = None) -> None:
        if sql == "COMMIT":  # what DuckDB does when Ctrl-C stops the commit itself
            executed(self, "ROLLBACK")
            raise RuntimeError("Query interrupted")
        executed(self, sql, params)

    monkeypatch.setattr(Store, "execute", execute)
    with pytest.raises(RuntimeError, match="Query interrupted"):
        load(store, expand([str(write_log("a.jsonl", [event(id="a1")]))]))
    monkeypatch.undo()
    assert store.scalar("SELECT count(*) FROM events") == 0
    store.close()
    assert _raw_end(db) == end


def test_what_an_interrupted_load_appended_is_cut_before_the_next(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    size = texts_path(db).stat().st_size
    with texts_path(db).open("ab") as leftover:
        leftover.write(b"\x07" * 1000)
    assert _loaded(run, db, write_log("b.jsonl", [event(id="b1")])).exit_code == 0
    assert [orjson.loads(t)["id"] for t in _raws(run, db)] == ["a1", "b1"]
    assert size < _raw_end(db) == texts_path(db).stat().st_size


def test_a_database_without_its_texts_says_so_and_still_answers_without_them(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    texts_path(db).unlink()
    result = run("filter", "--db", db, "--format", "jsonl")
    assert result.exit_code == 3
    assert "original texts are missing" in result.stderr
    assert str(texts_path(db)) in result.stderr
    assert "Traceback" not in result.stderr
    shown = run("filter", "--db", db, "--format", "jsonl", "--fields", "event_id,actor")
    assert shown.exit_code == 0
    assert orjson.loads(shown.stdout) == {"event_id": "a1", "actor": "alice@corp.example"}


def test_the_texts_of_another_database_are_refused(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    log = write_log("a.jsonl", [event(id="a1")])
    assert _loaded(run, one, log).exit_code == 0
    assert _loaded(run, two, log).exit_code == 0
    texts_path(one).write_bytes(texts_path(two).read_bytes())
    result = run("filter", "--db", one, "--format", "jsonl")
    assert result.exit_code == 3
    assert "belongs to another database" in result.stderr


def test_the_texts_of_a_copy_of_the_database_are_refused(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """A copy has the same id, and its frames sit where this database's do and check
    out: only their content differs. They were read as this database's texts."""
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    assert _loaded(run, one, write_log("seed.jsonl", [event(id="s1")])).exit_code == 0
    two.write_bytes(one.read_bytes())
    texts_path(two).write_bytes(texts_path(one).read_bytes())
    assert _loaded(run, one, write_log("a.jsonl", [event(id="a1", actor="mallory")])).exit_code == 0
    assert _loaded(run, two, write_log("b.jsonl", [event(id="b1", actor="trudyxx")])).exit_code == 0
    own = texts_path(one).read_bytes()
    texts_path(one).write_bytes(texts_path(two).read_bytes())
    for args in (("filter", "--db", one, "--format", "jsonl"), ("load", "--db", one, tmp_path)):
        result = run(*args)
        assert result.exit_code == 3, result.stdout
        assert "does not hold this database's texts" in result.stderr
    texts_path(one).write_bytes(own)
    assert sorted(orjson.loads(t)["id"] for t in _raws(run, one)) == ["a1", "s1"]


def test_texts_an_older_auditcli_appended_after_the_last_digest_are_still_read(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """An older auditcli moves raw_end on but writes no digest: the digest left from
    before then describes another end, and must not shut the case out."""
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    store = Store.open(db, must_exist=True)
    earlier = store.scalar("SELECT value FROM meta WHERE key = 'raw_tail'")
    store.close()
    assert _loaded(run, db, write_log("b.jsonl", [event(id="b1")])).exit_code == 0
    store = Store.open(db, must_exist=True)
    store.execute("UPDATE meta SET value = ? WHERE key = 'raw_tail'", [earlier])  # as if
    store.close()
    assert sorted(orjson.loads(t)["id"] for t in _raws(run, db)) == ["a1", "b1"]
    assert _loaded(run, db, write_log("c.jsonl", [event(id="c1")])).exit_code == 0


def test_a_cut_texts_file_is_reported_as_damaged(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    whole = texts_path(db).read_bytes()
    texts_path(db).write_bytes(whole[:-5])
    result = run("filter", "--db", db, "--format", "jsonl")
    assert result.exit_code == 3
    assert "is damaged" in result.stderr


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_of_a_frame_is_reported_not_misread(
    tmp_path_factory: pytest.TempPathFactory, at: int, bit: int
) -> None:
    """A flipped bit anywhere in a frame (head, lengths, payload) is damage, never
    another text: each frame carries a CRC-32 of its lengths and payload."""
    path = tmp_path_factory.mktemp("texts") / "db.raw"
    texts = FileTexts(path, new_file_id(), HEADER_SIZE)
    wanted = ['{"actor":"alice"}', '{"actor":"bob"}', ""]
    refs = texts.append(pa.array(wanted))
    texts.close()
    data = bytearray(path.read_bytes())
    where = HEADER_SIZE + at % (len(data) - HEADER_SIZE)
    data[where] ^= 1 << bit
    path.write_bytes(bytes(data))
    reopened = FileTexts(path, texts.file_id.hex(), texts.end)
    with pytest.raises(StoreError, match="damaged"):
        reopened.fetch(refs)
    reopened.close()


def test_a_reference_outside_the_file_is_reported(tmp_path: Path) -> None:
    texts = FileTexts(tmp_path / "db.raw", new_file_id(), HEADER_SIZE)
    texts.append(pa.array(["one"]))
    with pytest.raises(StoreError, match="outside it"):
        texts.fetch(pa.array([texts.end << 8], pa.int64()))
    with pytest.raises(StoreError, match="outside it"):
        texts.fetch(pa.array([1 << 8], pa.int64()))
    texts.close()


def test_a_texts_file_cut_short_before_its_first_commit_is_made_afresh(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """A power cut can leave a new file empty or half a header long; nothing in it
    was committed, so the next load starts it again."""
    db = tmp_path / "case.duckdb"
    Store.open(db).close()
    for leftover in (b"", MAGIC[:5]):
        texts_path(db).write_bytes(leftover)
        assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
        assert [orjson.loads(t)["id"] for t in _raws(run, db)] == ["a1"]
        for name in (db, texts_path(db)):
            name.unlink()
        Store.open(db).close()


def test_a_texts_file_of_another_database_is_never_overwritten(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    other, empty = tmp_path / "other.duckdb", tmp_path / "empty.duckdb"
    assert _loaded(run, other, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    Store.open(empty).close()
    texts_path(empty).write_bytes(texts_path(other).read_bytes())
    result = _loaded(run, empty, write_log("b.jsonl", [event(id="b1")]))
    assert result.exit_code == 3
    assert "belongs to another database" in result.stderr
    assert texts_path(empty).read_bytes() == texts_path(other).read_bytes()


def test_a_file_that_is_no_texts_file_is_never_overwritten(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    """A database that holds no texts yet (its first load failed) took any file there."""
    db = tmp_path / "case.duckdb"
    Store.open(db).close()
    texts_path(db).write_bytes(b"my notes\n")
    result = _loaded(run, db, write_log("a.jsonl", [event(id="a1")]))
    assert result.exit_code == 3
    assert "is not an auditcli texts file" in result.stderr
    assert texts_path(db).read_bytes() == b"my notes\n"


def test_a_duplicate_file_adds_no_texts(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    content = jsonl([event(id=f"e{i}") for i in range(200)])
    assert _loaded(run, db, write_log("a.jsonl", content)).exit_code == 0
    size = texts_path(db).stat().st_size
    result = _loaded(run, db, write_log("copy-of-a.jsonl", content))
    assert result.exit_code == 0
    assert "already loaded" in result.stderr
    assert texts_path(db).stat().st_size == size == _raw_end(db)


def test_a_frame_that_is_not_utf8_is_reported_as_damaged(tmp_path: Path) -> None:
    file_id = new_file_id()
    payload = pa.Codec("lz4_raw").compress(b"\xff\xfe", asbytes=True)
    lengths = struct.pack("<I", 2)
    check = zlib.crc32(lengths + payload)
    frame = struct.pack("<IHHI", len(payload), 1, 2, check) + lengths + payload
    path = tmp_path / "db.raw"
    path.write_bytes(MAGIC + bytes.fromhex(file_id) + frame)
    texts = FileTexts(path, file_id, HEADER_SIZE + len(frame))
    with pytest.raises(StoreError, match="damaged.*text 0"):
        texts.fetch(pa.array([HEADER_SIZE << 8], pa.int64()))
    texts.close()


def test_sorting_by_the_original_text_is_a_usage_error(run: Run, tmp_path: Path) -> None:
    result = run("filter", "--db", tmp_path / "none.duckdb", "--sort", "raw")
    assert result.exit_code == 2
    assert "cannot sort by raw" in result.stderr


def _ids(store: Store) -> list[str]:
    """The stored events' ids, in file order."""
    rows = store.arrow_reader("SELECT event_id FROM event_rows ORDER BY source_id, source_line")
    return rows.read_all().column(0).to_pylist()


def _ids_in_texts(store: Store) -> list[str]:
    """The ids written inside the stored events' texts, in the same order."""
    sql = "SELECT raw_ref AS raw FROM event_rows ORDER BY source_id, source_line"
    texts = store.arrow_reader(sql).read_all().column(0).to_pylist()
    return [orjson.loads(text)["id"] for text in texts]


def test_a_run_on_paths_keeps_only_the_texts_of_the_events_it_stored(
    write_log: Callable[..., Path],
) -> None:
    log = write_log("a.jsonl", [event(id=f"e{i}", actor=f"user{i % 4}") for i in range(200)])
    store = Store.open(":memory:")
    try:
        options = LoadOptions(event_filter=EventFilter(actors=("user1",)))
        load(store, expand([str(log)]), options)
        held = store.texts
        assert isinstance(held, MemoryTexts)
        assert sum(len(chunk) for chunk in held.held) == 50
        assert _ids_in_texts(store) == _ids(store)
    finally:
        store.close()


def test_a_new_database_does_not_adopt_a_texts_file_left_beside_it(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    log = write_log("a.jsonl", [event(id="a1")])
    assert _loaded(run, db, log).exit_code == 0
    db.unlink()
    result = _loaded(run, db, log)
    assert result.exit_code == 3
    assert "is there already" in result.stderr
    assert not db.exists()
    texts_path(db).unlink()
    assert _loaded(run, db, log).exit_code == 0


def test_an_in_memory_store_gives_each_event_its_own_text_when_streams_interleave() -> None:
    """Batches of two formats come in turn, so each stream's references have gaps."""
    from auditcli.ingest.framing import frame
    from auditcli.load import _Item, _mapper_for, _sample, _Streams

    first = jsonl([event(id=f"a{i}", actor=f"user{i}") for i in range(120)])
    second = jsonl(
        [
            {"id": f"b{i}", "ts": "2026-03-12T15:00:00Z", "username": f"u{i}", "operation": "op"}
            for i in range(120)
        ]
    )
    store = Store.open(":memory:")
    try:
        batches = [list(frame(io.BytesIO(data), chunk_bytes=2048)) for data in (first, second)]
        assert min(len(b) for b in batches) > 3
        mappers = [_mapper_for(_sample(b[0]), LoadOptions()) for b in batches]
        assert mappers[0].sql != mappers[1].sql
        items = [
            _Item(mapper, source_id, batch)
            for pair in zip(*batches, strict=False)
            for source_id, (mapper, batch) in enumerate(zip(mappers, pair, strict=True), 1)
        ]
        _Streams(store, threading.Event()).run(iter(items))
        assert len(_ids(store)) > 100
        assert _ids_in_texts(store) == _ids(store)
    finally:
        store.close()


@pytest.mark.parametrize("platform", ["no pread", "big-endian"])
def test_texts_read_back_on_other_platforms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    """Without os.pread (Windows); with the lengths swapped as a big-endian machine
    swaps them on the way in and out."""
    import auditcli.rawtexts as rawtexts

    if platform == "big-endian":
        monkeypatch.setattr(rawtexts, "_LITTLE_ENDIAN", False)
    texts = FileTexts(tmp_path / "db.raw", new_file_id(), HEADER_SIZE)
    wanted = [f"text {i} " * i for i in range(40)]
    refs = texts.append(pa.array(wanted))
    texts.close()
    if platform == "no pread":
        monkeypatch.setattr(rawtexts, "_PREAD", None)
    else:  # the swap ran: on this little-endian host it stores the lengths reversed
        second = HEADER_SIZE + rawtexts._FRAME_HEAD.size + 4
        second_length = (tmp_path / "db.raw").read_bytes()[second : second + 4]
        assert second_length == len("text 1 ").to_bytes(4, "big")
    reopened = FileTexts(tmp_path / "db.raw", texts.file_id.hex(), texts.end)
    assert reopened.fetch(refs).to_pylist() == wanted
    reopened.close()


def test_a_texts_file_that_cannot_be_written_fails_the_load_in_one_line(
    run: Run, write_log: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "case.duckdb"
    assert _loaded(run, db, write_log("a.jsonl", [event(id="a1")])).exit_code == 0
    texts_path(db).unlink()
    texts_path(db).mkdir()  # anything that cannot be opened for writing
    result = _loaded(run, db, write_log("b.jsonl", [event(id="b1")]))
    assert result.exit_code == 3
    assert f"cannot write {texts_path(db)}" in result.stderr
    assert "Traceback" not in result.stderr
    texts_path(db).rmdir()
    shown = run("filter", "--db", db, "--format", "jsonl", "--fields", "event_id")
    assert shown.stdout.split() == ['{"event_id":"a1"}']  # the failed load left nothing
