"""Batching and delivery by the consumer thread, against a capturing server."""

from __future__ import annotations

import threading
import time


def test_batch_closes_at_flush_at(server, make_client):
    client = make_client(server.url, flush_at=10, flush_interval=30)
    for index in range(25):
        client.track("u-1", "E", {"i": index})
    assert server.wait_for_messages(20)
    assert [len(batch) for batch in server.batches()] == [10, 10]
    assert client.flush(5) is True
    assert [len(batch) for batch in server.batches()] == [10, 10, 5]


def test_batch_closes_at_max_batch_bytes(server, make_client):
    client = make_client(
        server.url,
        flush_at=1000,
        flush_interval=30,
        max_batch_bytes=40_000,
        max_message_bytes=32_000,
    )
    for _ in range(5):
        assert client.track("u-1", "E", {"blob": "x" * 15_000}) is True
    assert server.wait_for_messages(4)
    sizes = [len(r.body) for r in server.requests]
    assert all(size <= 40_000 for size in sizes)
    assert [len(batch) for batch in server.batches()][:2] == [2, 2]


def test_batch_closes_after_flush_interval(server, make_client):
    client = make_client(server.url, flush_at=100, flush_interval=0.2)
    started = time.monotonic()
    client.track("u-1", "E")
    assert server.wait_for_messages(1, timeout=5)
    waited = server.requests[0].received_at - started
    assert 0.15 <= waited < 2.0


def test_flush_returns_true_when_delivered(server, make_client):
    client = make_client(server.url, flush_interval=30)
    for index in range(150):
        client.track("u-1", "E", {"i": index})
    assert client.flush(5) is True
    assert len(server.messages()) == 150


def test_flush_returns_false_at_timeout(server, make_client, caplog):
    server.respond_with(200, delay=1.0)
    client = make_client(server.url, timeout=5)
    client.track("u-1", "E")
    started = time.monotonic()
    assert client.flush(0.2) is False
    assert time.monotonic() - started < 0.9
    assert "flush timed out" in caplog.text
    assert client.flush(5) is True


def test_flush_returns_false_after_drop(server, make_client):
    server.set_default(400, {"error": {"code": "not_a_batch", "message": "no"}})
    client = make_client(server.url)
    client.track("u-1", "E")
    assert client.flush(5) is False
    assert client.stats()["dropped"] == {"http_error": 1}


def test_flush_without_messages_is_true(make_client):
    assert make_client().flush(0.1) is True


def test_retries_recover_after_outage(server, make_client):
    server.respond_with(503, headers={"Retry-After": "0"}, times=3)
    client = make_client(server.url)
    client.track("u-1", "E")
    assert client.flush(5) is True
    assert len(server.requests) == 4
    assert client.stats()["retried"] == 3


def test_on_error_exception_keeps_consumer_alive(server, make_client):
    def broken(error, messages):
        raise RuntimeError("callback bug")

    server.respond_with(400, {"error": {"code": "bad", "message": "no"}})
    client = make_client(server.url, on_error=broken)
    client.track("u-1", "first")
    assert client.flush(5) is False
    client.track("u-1", "second")
    assert client.flush(5) is True
    assert [m["event"] for m in server.messages()] == ["second"]


def test_many_threads_deliver_every_message(server, make_client):
    client = make_client(server.url, flush_at=50)
    per_thread = 500

    def send(thread_index):
        for index in range(per_thread):
            client.track(f"user-{thread_index}", "E", {"i": index})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert client.flush(10) is True
    messages = server.messages()
    assert len(messages) == 8 * per_thread
    assert len({m["messageId"] for m in messages}) == 8 * per_thread
    for thread_index in range(8):
        order = [
            m["properties"]["i"]
            for m in messages
            if m["userId"] == f"user-{thread_index}"
        ]
        assert order == list(range(per_thread))


def test_close_stops_consumer_thread(server, make_client):
    client = make_client(server.url)
    client.track("u-1", "E")
    consumer = client._consumer
    client.close(5)
    assert not consumer.is_alive()
    assert len(server.messages()) == 1


def test_close_timeout_drops_remaining(server, make_client):
    server.set_default(503, {}, **{"Retry-After": "0"})
    errors = []
    client = make_client(
        server.url,
        backoff_factor=0.2,
        backoff_max=0.2,
        on_error=lambda e, m: errors.append(e),
    )
    client.track("u-1", "E")
    started = time.monotonic()
    client.close(0.5)
    assert time.monotonic() - started < 2.0
    assert client.stats()["dropped"] == {"shutdown": 1}
    assert not client._consumer.is_alive()


def test_consumer_reuses_one_connection(server, make_client):
    client = make_client(server.url, flush_at=1)
    for _ in range(5):
        client.track("u-1", "E")
        assert client.flush(5) is True
    ports = {r.client_port for r in server.requests}
    assert len(server.requests) == 5
    assert len(ports) == 1
