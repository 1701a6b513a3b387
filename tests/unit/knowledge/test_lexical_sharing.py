"""The BM25 index shared by several processes: atomic generations, reload on change, serialised rebuilds."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import bm25s

from knowledge.acl import Viewer
from knowledge.lexical import LexicalIndex

VIEWER = Viewer()


def _docs(topic: str, n: int) -> tuple[list[str], list[str], list[frozenset[str]]]:
    ids = [f"{topic}:{i}" for i in range(n)]
    texts = [f"{topic} troubleshooting step {i} for the {topic} client" for i in range(n)]
    return ids, texts, [frozenset()] * n


def test_another_process_sees_a_new_build_on_its_next_search(tmp_path: Path) -> None:
    writer, reader = LexicalIndex(tmp_path), LexicalIndex(tmp_path, refresh_s=0)
    assert reader.load() is False and reader.search("vpn", viewer=VIEWER, k=3) == []
    writer.build(*_docs("vpn", 4))
    assert {h.chunk_id for h in reader.search("vpn client", viewer=VIEWER, k=10)} == {
        f"vpn:{i}" for i in range(4)
    }
    writer.build(*_docs("printer", 2))
    assert reader.search("vpn", viewer=VIEWER, k=10) == []
    assert reader.size == 2


def test_a_reader_checks_for_new_generations_at_most_every_refresh_interval(tmp_path: Path) -> None:
    writer, reader = LexicalIndex(tmp_path), LexicalIndex(tmp_path, refresh_s=3600)
    writer.build(*_docs("vpn", 2))
    reader.load()
    writer.build(*_docs("printer", 2))
    assert reader.size == 2 and reader.search("printer", viewer=VIEWER, k=5) == []  # still the old one
    reader.refresh_s = 0
    assert {h.chunk_id for h in reader.search("printer", viewer=VIEWER, k=5)} == {"printer:0", "printer:1"}


def test_old_generations_are_pruned_and_an_index_from_before_generations_still_loads(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    ids, texts, _ = _docs("wifi", 3)
    model = bm25s.BM25()
    model.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    model.save(str(legacy))
    (legacy / "chunks.json").write_text(
        '{"chunk_ids": ["wifi:0", "wifi:1", "wifi:2"], "audiences": [[], [], []]}'
    )
    old = LexicalIndex(legacy)
    assert old.load() is True and old.size == 3

    index = LexicalIndex(tmp_path / "current")
    for n in range(1, 7):
        index.build(*_docs("vpn", n))
    assert len(list((tmp_path / "current").glob("gen-*"))) == 3
    assert LexicalIndex(tmp_path / "current").load() and LexicalIndex(tmp_path / "current").size == 6


def test_rebuilds_are_serialised_by_the_cross_process_lock(tmp_path: Path) -> None:
    first, second = LexicalIndex(tmp_path), LexicalIndex(tmp_path)
    order: list[str] = []
    inside = threading.Event()

    def hold() -> None:
        with first.exclusive():
            inside.set()
            time.sleep(0.3)
            order.append("first done")

    def wait() -> None:
        inside.wait()
        with second.exclusive():
            order.append("second in")

    threads = [threading.Thread(target=hold), threading.Thread(target=wait)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert order == ["first done", "second in"]


def _rebuild_many(path: str, topic: str, rounds: int) -> None:
    index = LexicalIndex(Path(path))
    for n in range(rounds):
        with index.exclusive():
            index.build(*_docs(topic, 5 + n))


def test_readers_never_fail_while_two_processes_keep_publishing(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_rebuild_many, args=(str(tmp_path), t, 6)) for t in ("vpn", "printer")]
    reader = LexicalIndex(tmp_path, refresh_s=0)
    for process in writers:
        process.start()
    searches = 0
    while any(p.is_alive() for p in writers):
        reader.search("troubleshooting client", viewer=VIEWER, k=5)
        searches += 1
    for process in writers:
        process.join(30)
        assert process.exitcode == 0
    final = reader.search("troubleshooting client", viewer=VIEWER, k=50)
    assert searches > 0 and len(final) == 10  # the last build published: 5 + 5 chunks of one topic
    assert len({hit.chunk_id.split(":")[0] for hit in final}) == 1
