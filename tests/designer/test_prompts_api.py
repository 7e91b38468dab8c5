"""The prompt library through the API: placeholders for everything unrecorded, uploads by
recorders, approvals, the worklist, pins at publish, per-entry policy — and delivery: the
runtime plays each version from its own folder in the sounds directory (the fake Asterisk
sees those names)."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import wave

import pytest
from starlette.testclient import TestClient
from support.designer import ApiClient, add_user, make_app, tiny_flow
from support.fake_asterisk import FakeCall
from support.prompts import FakeSpeaker, fake_converter, tone_wav

from prompts.delivery import SoundsDir
from runtime.service import RuntimeService

FLOW_PROMPTS = {"menu", "thanks", "other", "busy"}


@pytest.fixture
def speaker():
    return FakeSpeaker()


@pytest.fixture
def app(engine, tmp_path, speaker):
    app = make_app(engine, media_dir=tmp_path / "media", converter=fake_converter, speaker=speaker)
    add_user(app, "ed", "editor")
    add_user(app, "pub", "editor", "publisher")
    add_user(app, "rec", "recorder")
    add_user(app, "admin", "admin")
    return app


@pytest.fixture
def users(app):
    made = {name: ApiClient(app, name) for name in ("ed", "pub", "rec", "admin")}
    made["ed"].post("/api/flows", tiny_flow(key2="other"))
    yield made
    for client in made.values():
        client.close()


def _status(client: ApiClient, flow: str = "tiny") -> dict[str, str]:
    items = client.get(f"/api/prompts?flow={flow}").json()["prompts"]
    return {i["prompt_id"]: i["status"] for i in items if not i["number_set"]}


def _upload(client: ApiClient, prompt: str, body: bytes, name: str = "take1.wav", lang="zh-CN"):
    return client.post(
        f"/api/prompts/{lang}/{prompt}/recording",
        content=body,
        headers={"X-Filename": name, "Content-Type": "application/octet-stream"},
    )


def test_every_prompt_gets_a_placeholder_then_recordings_replace_them(users, speaker):
    ed, rec = users["ed"], users["rec"]
    listed = ed.get("/api/prompts?flow=tiny").json()["prompts"]
    menu = next(i for i in listed if i["prompt_id"] == "menu")
    assert menu["text"] == "请按1或2。" and menu["used_by"] == [{"flow": "tiny", "node": "menu"}]
    assert any(i["prompt_id"] == "say/zh/1" and i["number_set"] for i in listed)
    # made right after the flow was saved, without anyone asking
    assert _status(ed) == dict.fromkeys(FLOW_PROMPTS, "placeholder")
    assert len(speaker.calls) == len(listed)
    assert ed.post("/api/flows/tiny/placeholders").json() == {"made": [], "failed": []}
    wav = ed.get("/api/prompts/zh-CN/menu/audio")
    assert wav.headers["content-type"] == "audio/wav" and wav.content.startswith(b"RIFF")

    recording = tone_wav(700)
    uploaded = _upload(rec, "menu", recording, name="../../etc/passwd\x00.wav")
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert body["status"] == "recorded" and body["duration_ms"] == 700
    assert body["original_name"] == "passwd.wav"  # display only, directories and NUL gone
    assert ed.get("/api/prompts/zh-CN/menu/audio").content == recording
    assert ed.get("/api/prompts/zh-CN/menu/audio?original=1").content == recording
    assert _status(ed)["menu"] == "recorded"

    approved = rec.post("/api/prompts/zh-CN/menu/approval", {"approved": True}).json()
    assert approved["status"] == "approved" and approved["approved_by"] == "rec"
    worklist = ed.get("/api/flows/tiny/worklist").json()["worklist"]
    assert {i["prompt_id"] for i in worklist} == FLOW_PROMPTS - {"menu"}

    # the script of "menu" changes: its approved recording is outdated and back on the list
    flow = tiny_flow(key2="other")
    flow["prompts"]["menu"]["text"]["zh-CN"] = "请按1，或按2。"
    ed.put("/api/flows/tiny", flow, headers={"If-Match": "1"})
    worklist = ed.get("/api/flows/tiny/worklist").json()["worklist"]
    outdated = next(i for i in worklist if i["prompt_id"] == "menu")
    assert outdated["outdated"] is True and outdated["status"] == "approved"
    events = users["admin"].get("/api/audit?target=menu@zh-CN").json()["events"]
    assert [e["action"] for e in events] == ["prompt.approve", "prompt.upload"]


def test_roles_and_bad_uploads(users):
    ed, rec = users["ed"], users["rec"]
    denied = _upload(ed, "menu", tone_wav())
    assert denied.status_code == 403
    assert _upload(rec, "menu", b"").json()["code"] == "audio.empty"
    not_audio = _upload(rec, "menu", b"<html>hello</html>")
    assert not_audio.status_code == 422 and not_audio.json()["code"] == "audio.unknown_format"
    too_big = _upload(rec, "menu", b"RIFF" + b"\0" * (21 * 1024 * 1024))
    assert too_big.status_code == 413
    for bad in ("..%2Fetc", "a/%2E%2E/b", "%2E%2E", "a//b"):  # the client tidies a/../b itself
        response = _upload(rec, bad, tone_wav())
        assert response.status_code in (404, 422), (bad, response.text)
    assert _upload(rec, "menu", tone_wav(), lang="not a lang").status_code in (404, 422)
    no_recording = rec.post("/api/prompts/zh-CN/thanks/approval", {"approved": True})
    assert no_recording.status_code == 409 and no_recording.json()["code"] == "prompt.not_recorded"
    assert ed.get("/api/prompts/zh-CN/ghost/audio").status_code == 404
    assert _status(ed)["menu"] == "placeholder"  # the bad uploads changed nothing


def test_publish_pins_audio_and_the_entry_policy_can_require_approval(users):
    ed, pub, rec, admin = users["ed"], users["pub"], users["rec"], users["admin"]
    first = pub.post("/api/flows/tiny/publish", {"entry": "12329"}).json()
    # the placeholders were made after the flow was saved: none were missing at publish
    assert first["prompts"] == {"placeholders_made": 0, "tts_failed": [], "without_audio": []}
    pinned = ed.get("/api/flows/tiny/versions/1/prompts").json()["prompts"]
    menu_pin = next(p for p in pinned if p["prompt_id"] == "menu")
    assert menu_pin["status"] == "placeholder"
    # a later recording does not change what version 1 plays
    _upload(rec, "menu", tone_wav(900))
    again = ed.get("/api/flows/tiny/versions/1/prompts").json()["prompts"]
    assert next(p for p in again if p["prompt_id"] == "menu") == menu_pin
    assert ed.get(f"/api/audio/{menu_pin['audio_sha']}").content.startswith(b"RIFF")
    pending = ed.get("/api/flows/tiny/versions/1/prompts?pending=1").json()["prompts"]
    assert {p["prompt_id"] for p in pending} >= FLOW_PROMPTS

    assert admin.put("/api/entries/12329/policy", {"require_approved": True}).status_code == 200
    assert pub.put("/api/entries/12329/policy", {"require_approved": False}).status_code == 403
    refused = pub.post("/api/flows/tiny/publish", {"entry": "12329"})
    body = refused.json()
    assert refused.status_code == 422 and body["code"] == "publish.prompts_unapproved"
    waiting = {(p["prompt_id"], p["status"]) for p in body["prompts"]}
    assert ("menu", "recorded") in waiting and ("thanks", "placeholder") in waiting
    listed = ed.get("/api/prompts?flow=tiny").json()["prompts"]
    for item in listed:
        _upload(rec, item["prompt_id"], tone_wav(200))
        rec.post(f"/api/prompts/zh-CN/{item['prompt_id']}/approval", {"approved": True})
    second = pub.post("/api/flows/tiny/publish", {"entry": "12329", "message": "录音版"})
    assert second.status_code == 200, second.text
    pins = ed.get(f"/api/flows/tiny/versions/{second.json()['version']}/prompts").json()
    assert {p["status"] for p in pins["prompts"]} == {"approved"}
    version = second.json()["version"]
    assert ed.get(f"/api/flows/tiny/versions/{version}/prompts?pending=1").json()["prompts"] == []


def test_a_tts_failure_is_reported_not_fatal(engine, tmp_path):
    app = make_app(
        engine,
        media_dir=tmp_path,
        converter=fake_converter,
        speaker=FakeSpeaker(fail_on="谢谢"),
    )
    add_user(app, "pub", "editor", "publisher")
    client = ApiClient(app, "pub")
    client.post("/api/flows", tiny_flow())
    result = client.post("/api/flows/tiny/publish", {"entry": "12329"}).json()
    assert [f["prompt_id"] for f in result["prompts"]["tts_failed"]] == ["thanks"]
    assert result["prompts"]["without_audio"] == [{"prompt_id": "thanks", "language": "zh-CN"}]
    client.close()


def test_the_runtime_plays_each_version_from_its_own_folder(engine, tmp_path, speaker):
    sounds = tmp_path / "sounds"
    runtime = RuntimeService(
        engine, port=0, entry_cache_s=0, drain_s=2, sounds=SoundsDir(sounds, engine)
    )
    app = make_app(
        engine, media_dir=tmp_path / "m", converter=fake_converter, speaker=speaker, runtime=runtime
    )
    add_user(app, "pub", "editor", "publisher", "recorder")
    with TestClient(app):
        pub = ApiClient(app, "pub")
        pub.post("/api/flows", tiny_flow(key2="other"))
        pub.post("/api/flows/tiny/publish", {"entry": "12329"})

        def call(keys: str) -> list[str]:
            result = asyncio.run(
                FakeCall(runtime.port, keys=keys, sounds_dir=sounds, timeout=20).run()
            )
            assert result.error is None and result.missing == [], result.missing
            return result.played

        assert call("2") == ["ivrflow/tiny/v1/zh-CN/menu", "ivrflow/tiny/v1/zh-CN/other"]
        v1_menu = (sounds / "ivrflow/tiny/v1/zh-CN/menu.wav").read_bytes()
        assert (sounds / "ivrflow/tiny/v1/zh-CN/menu.sln").stat().st_size == len(v1_menu) - 44
        assert (sounds / "ivrflow/tiny/v1/zh-CN/say/zh/1.wav").is_file()

        pub.post("/api/prompts/zh-CN/other/recording", content=tone_wav(1200))
        changed = tiny_flow(key2="other")
        changed["name"] = "v2"
        pub.put("/api/flows/tiny", changed, headers={"If-Match": "1"})
        assert pub.post("/api/flows/tiny/publish", {"entry": "12329"}).json()["version"] == 2
        assert call("2") == ["ivrflow/tiny/v2/zh-CN/menu", "ivrflow/tiny/v2/zh-CN/other"]
        assert (sounds / "ivrflow/tiny/v2/zh-CN/other.wav").read_bytes() == tone_wav(1200)
        assert (sounds / "ivrflow/tiny/v1/zh-CN/menu.wav").read_bytes() == v1_menu  # untouched
        assert not [p for p in (sounds / "ivrflow/tiny").iterdir() if p.name.startswith(".")]
        pub.close()


def _dynamic_flow() -> dict:
    flow = tiny_flow(key2="other")
    flow["variables"] = {"branch": {"type": "string", "default": "福田网点"}}
    flow["prompts"]["other"] = {"text": {"zh-CN": "您预约的是{{branch}}，谢谢。"}}
    return flow


class _FakeTts:
    name = "fake"
    audio_format = "wav"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def available(self) -> bool:
        return True

    def resolve_voice(self, language: str, voice: str | None) -> str:
        return "v"

    async def synthesize(self, text: str, *, language: str, voice: str | None) -> bytes:
        self.texts.append(text)
        return tone_wav(150)


def test_dynamic_prompts_are_spoken_at_run_time_never_recorded(engine, tmp_path, speaker):
    from prompts.engines import runtime_speech

    sounds = tmp_path / "sounds"
    tts = _FakeTts()
    runtime = RuntimeService(
        engine,
        port=0,
        entry_cache_s=0,
        drain_s=2,
        sounds=SoundsDir(sounds, engine),
        speech=runtime_speech(sounds, tts=tts),
    )
    app = make_app(
        engine, media_dir=tmp_path / "m", converter=fake_converter, speaker=speaker, runtime=runtime
    )
    add_user(app, "pub", "editor", "publisher", "recorder")
    with TestClient(app):
        pub = ApiClient(app, "pub")
        pub.post("/api/flows", _dynamic_flow())
        listed = {i["prompt_id"]: i for i in pub.get("/api/prompts?flow=tiny").json()["prompts"]}
        assert listed["other"]["status"] == "dynamic"
        published = pub.post("/api/flows/tiny/publish", {"entry": "12329"}).json()
        assert all(text != "您预约的是{{branch}}，谢谢。" for text, _ in speaker.calls)
        assert published["prompts"]["without_audio"] == []
        worklist = pub.get("/api/flows/tiny/worklist").json()["worklist"]
        assert "other" not in {i["prompt_id"] for i in worklist}  # nothing to record
        result = asyncio.run(FakeCall(runtime.port, keys="2", sounds_dir=sounds, timeout=20).run())
        assert result.error is None and result.missing == []
        assert tts.texts == ["您预约的是福田网点，谢谢。"]  # rendered for this call
        [spoken] = [name for name in result.played if name.startswith("ivrflow/tts/")]
        assert (sounds / f"{spoken}.wav").is_file()
        again = asyncio.run(FakeCall(runtime.port, keys="2", sounds_dir=sounds, timeout=20).run())
        assert spoken in again.played and len(tts.texts) == 1  # cached
        pub.close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_real_mp3_upload_becomes_asterisk_audio(engine, tmp_path, speaker):
    from prompts.engines import default_converter

    mp3 = tmp_path / "take.mp3"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-ac",
            "2",
            "-ar",
            "44100",
            str(mp3),
        ],
        check=True,
    )
    app = make_app(
        engine,
        media_dir=tmp_path / "media",
        converter=default_converter(tmp_path / "work"),
        speaker=speaker,
    )
    add_user(app, "rec", "recorder")
    rec = ApiClient(app, "rec")
    body = _upload(rec, "menu", mp3.read_bytes(), name="take.wav").json()  # the name lies
    assert body["status"] == "recorded" and 1900 <= body["duration_ms"] <= 2100
    wav = rec.get("/api/prompts/zh-CN/menu/audio").content
    with wave.open(io.BytesIO(wav)) as reader:
        assert (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) == (8000, 1, 2)
    original = rec.get("/api/prompts/zh-CN/menu/audio?original=1")
    assert original.content == mp3.read_bytes()
    assert 'filename="menu.mp3"' in original.headers["content-disposition"]  # sniffed: mp3
    assert list((tmp_path / "work").iterdir()) == []  # nothing left behind
    rec.close()


def test_a_recorded_prompt_needs_no_script_in_the_flow(users):
    ed, rec = users["ed"], users["rec"]
    flow = tiny_flow(key2="other")
    flow["nodes"]["other"]["config"]["prompts"] = ["studio_only"]  # declared nowhere
    assert "prompt.missing" in {
        p["code"] for p in ed.post("/api/flows/tiny/validate", flow).json()["problems"]
    }
    assert _upload(rec, "studio_only", tone_wav()).status_code == 200
    result = ed.post("/api/flows/tiny/validate", flow).json()
    assert "prompt.missing" not in {p["code"] for p in result["problems"]}


def test_a_run_of_saves_speaks_only_the_final_text(engine, tmp_path):
    import time

    speaker = FakeSpeaker()
    app = make_app(
        engine,
        media_dir=tmp_path,
        converter=fake_converter,
        speaker=speaker,
        placeholder_delay_s=2.0,  # far longer than three saves take, even on a busy machine
    )
    add_user(app, "ed", "editor")
    ed = ApiClient(app, "ed")
    with ed.http:  # one event loop for the app's lifetime, as under uvicorn
        ed.post("/api/flows", tiny_flow())
        for revision, text in ((1, "第一稿。"), (2, "第二稿。"), (3, "定稿。")):
            flow = tiny_flow()
            flow["prompts"]["thanks"]["text"]["zh-CN"] = text
            saved = ed.put("/api/flows/tiny", flow, headers={"If-Match": str(revision)})
            assert saved.status_code == 200
        assert speaker.calls == []  # the editor has not paused yet
        deadline = time.monotonic() + 10
        while not any(text == "定稿。" for text, _ in speaker.calls):
            assert time.monotonic() < deadline, speaker.calls
            time.sleep(0.05)
    spoken = [text for text, _ in speaker.calls]
    assert "第一稿。" not in spoken and "第二稿。" not in spoken
    assert spoken.count("定稿。") == 1
    ed.close()
