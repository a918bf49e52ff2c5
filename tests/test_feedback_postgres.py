"""The feedback samples in PostgreSQL (model/feedback_postgres.py), against a real server from Debian's
package: its schema, replicas starting together, a server that is down, read-only or comes back.
Everything both backends do alike runs in tests/test_feedback.py, once per backend."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from model import feedback, feedback_postgres
from scripts.serve import free_port
from tests.support.postgres import running_postgres


def pixels(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (28, 28), dtype=np.uint8)


@pytest.fixture
def url(postgres) -> str:
    return postgres.new_database()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_the_schema_is_made_on_first_use_with_its_version(postgres, url):
    store = feedback.open_store(url)
    assert postgres.psql("SELECT to_regclass('samples') IS NULL", database_name(url)) == "t"  # nothing yet
    store.add("a", pixels(0), 1, "digits", 1, confidence=0.5)
    store.close()
    name = database_name(url)
    assert postgres.psql("SELECT version FROM digits_schema", name) == str(feedback.SCHEMA_VERSION)
    columns = postgres.psql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'samples' ORDER BY ordinal_position",
        name,
    ).split()
    assert columns == ["id", "sample_id", "created", "model", "prediction", "label", "pixels", "status", "confidence"]
    assert postgres.psql("SELECT sample_id, label, status, length(pixels) FROM samples", name) == "a|1|pending|784"


def _store_many(job: tuple[str, int, float]) -> list[int]:
    url, worker, start = job
    store = feedback.open_store(url)
    time.sleep(max(0.0, start - time.time()))  # all begin at once, each on a database without a schema
    try:
        return [store.add(f"w{worker}-{k}", pixels(k), k % 10, "digits", (k + 1) % 10) for k in range(50)]
    finally:
        store.close()


def test_processes_starting_together_make_the_schema_once_and_lose_nothing(postgres, url):
    processes = 8
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        start = time.time() + 0.3
        ids = pool.map(_store_many, [(url, w, start) for w in range(processes)])
    flat = sorted(i for worker in ids for i in worker)
    assert len(set(flat)) == processes * 50
    store = feedback.open_store(url)
    assert store.counts() == {"pending": processes * 50, "approved": 0, "rejected": 0}
    store.close()
    assert postgres.psql("SELECT count(*) FROM digits_schema", database_name(url)) == "1"


def test_a_newer_schema_is_refused_with_a_clear_message(postgres, url, capsys):
    store = feedback.open_store(url)
    store.add("a", pixels(0), 1, "digits", 1)
    store.close()
    postgres.psql("UPDATE digits_schema SET version = 3", database_name(url))
    newer = feedback.open_store(url)
    with pytest.raises(feedback.FeedbackError, match="schema version 3, newer than this code knows \\(2\\)"):
        newer.add("b", pixels(1), 1, "digits", 1)
    with pytest.raises(feedback.data.DataError, match="schema version 3"):
        feedback.read_samples(url)
    newer.close()
    assert feedback.main(["review", url, "--list"]) == 1
    assert "schema version 3" in capsys.readouterr().err
    assert postgres.psql("SELECT count(*) FROM samples", database_name(url)) == "1"


def test_a_read_only_database_is_read_and_refuses_changes(postgres, url):
    store = feedback.open_store(url)
    store.add("a", pixels(0), 1, "digits", 1)
    store.close()
    postgres.psql(f"ALTER DATABASE {database_name(url)} SET default_transaction_read_only = on")
    read_only = feedback.open_store(url)
    with pytest.raises(feedback.FeedbackError, match="read-only"):
        read_only.add("b", pixels(1), 1, "digits", 1)
    assert read_only.counts() == {"pending": 1, "approved": 0, "rejected": 0}
    read_only.close()


def test_an_unreachable_server_is_a_feedback_error_within_the_pool_timeout():
    store = feedback.open_store(f"postgresql://digits:hunter22@127.0.0.1:{free_port()}/digits")
    start = time.monotonic()
    with pytest.raises(feedback.FeedbackError, match="cannot reach the feedback database") as error:
        store.add("a", pixels(0), 1, "digits", 1)
    assert time.monotonic() - start < feedback_postgres.POOL_TIMEOUT + 1
    assert "hunter22" not in str(error.value) and "127.0.0.1" not in str(error.value)  # the app's 503 quotes it
    store.close()


def test_a_store_works_again_soon_after_its_server_comes_back():
    with running_postgres() as server:
        store = feedback.open_store(server.url())
        assert store.add("before", pixels(0), 1, "digits", 1) == 1
        server.stop()
        start = time.monotonic()
        with pytest.raises(feedback.FeedbackError):
            store.add("while-down", pixels(1), 1, "digits", 1)
        assert time.monotonic() - start < feedback_postgres.POOL_TIMEOUT + 1
        server.start()
        back = time.monotonic()
        while True:  # the same store, not a new one: its pool reconnects by itself
            try:
                store.add("after", pixels(2), 2, "digits", 2)
                break
            except feedback.FeedbackError:
                assert time.monotonic() - back < 5, "the store did not reach the server within 5 s of its return"
                time.sleep(0.1)
        assert [s.label for s in store.samples(order="oldest")] == [1, 2]
        store.close()


def test_review_and_export_take_a_postgresql_url(url, tmp_path, capsys):
    store = feedback.open_store(url)
    for k in range(3):
        store.add(f"s{k}", pixels(k), k, "digits", k)
    store.close()
    assert feedback.main(["review", url, "--approve", "1-2"]) == 0
    assert "approved 2 samples" in capsys.readouterr().out
    assert feedback.main(["export", url, "--format", "kaggle", "--out", str(tmp_path / "train.csv")]) == 0
    exported = feedback.data.read_kaggle_csv(tmp_path / "train.csv")
    assert exported.labels.tolist() == [0, 1]
    np.testing.assert_array_equal(exported.images[1], pixels(1))
