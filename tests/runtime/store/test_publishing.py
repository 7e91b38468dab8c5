"""Publishing: immutable versions, sub-flows pinned, entry pointers, rollback — on SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, select

from runtime.library import DirectoryLibrary, MemoryLibrary
from runtime.store.models import EntryChange, FlowVersion
from runtime.store.publishing import (
    PinnedLibrary,
    PublishRejected,
    entry_version,
    load_entry,
    publish,
    rollback,
)

FOLDER = Path(__file__).parents[3] / "examples" / "12329"


def main_doc():
    return json.loads((FOLDER / "main.json").read_text("utf-8"))


def test_publish_stores_sub_flows_first_and_pins_them(engine):
    library = DirectoryLibrary(FOLDER)
    result = publish(engine, main_doc(), entry="12329", message="first", library=library)
    assert (result.flow_id, result.version, result.previous_version) == ("12329-main", 1, None)
    assert result.dependencies == {"12329-agent": 1, "12329-appointment": 1}
    assert [f for f, _ in result.new_versions] == ["12329-appointment", "12329-agent", "12329-main"]
    info = entry_version(engine, "12329")
    assert (info.flow_id, info.version, info.dependencies) == (
        "12329-main",
        1,
        {"12329-agent": 1, "12329-appointment": 1},
    )


def test_unchanged_documents_reuse_their_version_changed_ones_get_a_new_one(engine):
    library = DirectoryLibrary(FOLDER)
    publish(engine, main_doc(), entry="12329", library=library)
    again = publish(engine, main_doc(), entry="12329", library=library)
    assert again.version == 1 and again.new_versions == []
    # change the agent sub-flow: it and the main flow (whose pins change) get new versions
    agent = copy.deepcopy(library.documents["12329-agent"])
    agent["prompts"]["queue_wait"]["text"]["zh-CN"] = "正在为您转接人工坐席，请稍候。"
    library.add(agent)
    third = publish(engine, main_doc(), entry="12329", message="new queue prompt", library=library)
    assert third.new_versions == [("12329-agent", 2), ("12329-main", 2)]
    assert third.dependencies == {"12329-agent": 2, "12329-appointment": 1}
    assert third.previous_version == 1


def test_versions_are_immutable_and_old_ones_still_run(engine):
    library = DirectoryLibrary(FOLDER)
    publish(engine, main_doc(), entry="12329", library=library)
    doc = main_doc()
    doc["prompts"]["welcome"]["text"]["zh-CN"] = "新的欢迎语。"
    publish(engine, doc, entry="12329", library=library)
    cache: dict = {}
    v1 = PinnedLibrary(engine, {"12329-main": 1, "12329-agent": 1}, cache=cache).get("12329-main")
    v2 = PinnedLibrary(engine, {"12329-main": 2, "12329-agent": 1}, cache=cache).get("12329-main")
    assert v1.prompts["welcome"]["text"]["zh-CN"] != v2.prompts["welcome"]["text"]["zh-CN"]
    with Session(engine) as session:
        versions = session.exec(
            select(FlowVersion.version).where(FlowVersion.flow_id == "12329-main")
        ).all()
    assert sorted(versions) == [1, 2]


def test_invalid_flows_are_not_published(engine):
    doc = main_doc()
    doc["nodes"]["main_menu"]["exits"]["1"] = "nowhere"
    with pytest.raises(PublishRejected) as info:
        publish(engine, doc, entry="12329", library=DirectoryLibrary(FOLDER))
    assert any(p.code == "exit.unknown_target" for p in info.value.problems)
    assert load_entry(engine, "12329") is None


def test_missing_sub_flow_blocks_publishing(engine):
    with pytest.raises(PublishRejected) as info:
        publish(engine, main_doc(), entry="12329", library=MemoryLibrary())
    assert {p.code for p in info.value.problems} == {"subflow.missing"}


def test_rollback_moves_the_pointer_and_is_recorded(engine):
    library = DirectoryLibrary(FOLDER)
    publish(engine, main_doc(), entry="12329", library=library)
    doc = main_doc()
    doc["name"] = "v2"
    publish(engine, doc, entry="12329", library=library)
    result = rollback(engine, entry="12329", version=1, message="bad menu", author="li")
    assert (result.previous_version, result.version) == (2, 1)
    assert load_entry(engine, "12329") == ("12329-main", 1)
    with Session(engine) as session:
        changes = session.exec(select(EntryChange).order_by(EntryChange.id)).all()
    assert [(c.action, c.from_version, c.to_version) for c in changes] == [
        ("publish", None, 1),
        ("publish", 1, 2),
        ("rollback", 2, 1),
    ]
    with pytest.raises(LookupError):
        rollback(engine, entry="12329", version=9)
    with pytest.raises(LookupError):
        rollback(engine, entry="nope", version=1)


def test_concurrent_publishes_of_one_entry_all_land_with_distinct_versions(engine):
    library = DirectoryLibrary(FOLDER)
    publish(engine, main_doc(), entry="12329", library=library)
    errors: list[Exception] = []

    def worker(i: int) -> None:
        doc = main_doc()
        doc["name"] = f"edit {i}"
        try:
            publish(engine, doc, entry="12329", library=DirectoryLibrary(FOLDER))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as session:
        versions = session.exec(
            select(FlowVersion.version).where(FlowVersion.flow_id == "12329-main")
        ).all()
    assert sorted(versions) == [1, 2, 3, 4, 5]
    assert load_entry(engine, "12329")[1] in {2, 3, 4, 5}
