"""The web app's parts without a server: the LRU cache, expiry, names from clients, the store."""
import time

import pytest

pytest.importorskip("fastapi")

from anime_tf.serve.cache import ResultCache  # noqa: E402
from anime_tf.serve.server import Service, expire_old_jobs  # noqa: E402
from anime_tf.serve.settings import Settings  # noqa: E402
from anime_tf.serve.store import Database, JobStore  # noqa: E402
from anime_tf.serve.streams import unique_names  # noqa: E402
from anime_tf.serve.uploads import display_name  # noqa: E402
from anime_tf.serve.work import JobFiles  # noqa: E402


def test_the_cache_evicts_the_least_recently_used_within_its_budget(tmp_path):
    cache = ResultCache(Database(tmp_path / "db"), tmp_path / "cache", max_bytes=250)
    for key in "abc":
        result = tmp_path / f"{key}.png"
        result.write_bytes(key.encode() * 100)
        cache.put(key, result)
        time.sleep(0.01)
    assert cache.lookup("a") is None, "over budget, the oldest entry stays"
    assert cache.lookup("b") is not None  # b is now the most recently used
    (tmp_path / "d.png").write_bytes(b"d" * 100)
    cache.put("d", tmp_path / "d.png")
    assert cache.lookup("c") is None and cache.lookup("b") is not None and cache.lookup("d") is not None
    assert cache.size() == (200, 2)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["b.png", "d.png"]


def test_finished_jobs_expire_with_their_results_and_running_ones_stay(tmp_path):
    db = Database(tmp_path / "db")
    service = Service(Settings(retention_hours=0), JobStore(db), ResultCache(db, tmp_path / "c", 0),
                      JobFiles(tmp_path), identities={})
    job = {"batch": "b", "name": "n.png", "client": "c", "style": "s",
           "options": {"format": "png", "faces": False, "max_side": None}}
    service.store.add([job | {"id": "old", "state": "done", "result": "old.png"},
                       job | {"id": "busy", "state": "queued"}])
    (service.files.results / "old.png").write_bytes(b"x")
    time.sleep(0.01)
    expire_old_jobs(service)
    assert service.store.get("old") is None and not (service.files.results / "old.png").exists()
    assert service.store.get("busy")["state"] == "queued"


def test_a_running_job_goes_back_to_the_queue_after_a_crash(tmp_path):
    store = JobStore(Database(tmp_path / "db"))
    job = {"batch": "b", "name": "n", "client": "c", "style": "s", "options": {}, "state": "queued"}
    store.add([job | {"id": "one"}, job | {"id": "two"}])
    assert store.claim()["id"] == "one"
    assert store.queue_position(store.get("two")) == 1
    assert JobStore(Database(tmp_path / "db")).requeue_running() == 1  # a new server on the same file
    assert [j["id"] for j in store.active()] == ["one", "two"]
    assert store.queue_position(store.get("one")) == 1


@pytest.mark.parametrize("sent, shown", [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\me\\photo.jpg", "photo.jpg"), ("", "image"),
    (".hidden.png", "hidden.png"), ("bad\x00\x1bname.png", "badname.png"), ("x" * 300 + ".jpg", "x" * 116 + ".jpg")])
def test_client_file_names_are_text_never_paths(sent, shown):
    assert display_name(sent) == shown


def test_zip_names_are_unique():
    assert unique_names(["a.png", "A.png", "a.png", "b"]) == ["a.png", "A (2).png", "a (3).png", "b"]


def test_a_face_result_is_cached_under_the_face_pass_that_painted_it(monkeypatch):
    """After an upgrade changes how faces are painted, a cached face result is not served again."""
    from anime_tf import config
    from anime_tf.serve.app import keyed_options
    from anime_tf.serve.cache import cache_key

    faces, plain = ({"faces": on, "max_side": 512, "format": "png"} for on in (True, False))
    before = [cache_key("pixels", "weights", keyed_options(o)) for o in (faces, plain)]
    monkeypatch.setattr(config, "FACE_PASS_VERSION", config.FACE_PASS_VERSION + 1)
    after = [cache_key("pixels", "weights", keyed_options(o)) for o in (faces, plain)]
    assert before[0] != after[0], "a face result painted by another face pass would be served"
    assert before[1] == after[1], "results without faces do not depend on the face pass"
