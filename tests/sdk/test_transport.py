"""HTTP behaviour of delivery: statuses, retries, Retry-After, 413, gzip."""

from __future__ import annotations

import base64
import gzip
import json
import time

import pytest
import requests
import responses

import pug
from pug import transport

HOST = "http://pug.test"
BATCH_URL = HOST + "/v1/batch"
FAST = {"backoff_factor": 0.001, "backoff_max": 0.005, "flush_on_exit": False}


def sync_client(**options):
    return pug.Client("write-key", HOST, sync_mode=True, **{**FAST, **options})


def request_payload(call):
    body = call.request.body
    if call.request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return json.loads(body)


@responses.activate
def test_request_sends_gzip_json_headers():
    responses.post(BATCH_URL, json={"accepted": 1, "duplicates": 0, "rejected": []})
    sync_client().track("u-1", "E")
    headers = responses.calls[0].request.headers
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"pug-python/{pug.__version__}"


@responses.activate
def test_request_authenticates_with_write_key():
    responses.post(BATCH_URL, json={})
    sync_client().track("u-1", "E")
    expected = "Basic " + base64.b64encode(b"write-key:").decode()
    assert responses.calls[0].request.headers["Authorization"] == expected


@responses.activate
def test_request_without_gzip_is_plain_json():
    responses.post(BATCH_URL, json={})
    sync_client(gzip=False).track("u-1", "E")
    request = responses.calls[0].request
    assert "Content-Encoding" not in request.headers
    assert json.loads(request.body)["batch"][0]["event"] == "E"


@responses.activate
@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_status_is_retried(status):
    responses.post(BATCH_URL, status=status, json={})
    responses.post(BATCH_URL, json={"accepted": 1, "duplicates": 0, "rejected": []})
    client = sync_client()
    assert client.track("u-1", "E") is True
    assert len(responses.calls) == 2
    assert client.stats()["retried"] == 1


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_error_gives_up_at_once(status):
    responses.post(
        BATCH_URL, status=status, json={"error": {"code": "bad", "message": "no"}}
    )
    errors = []
    client = sync_client(
        on_error=lambda error, messages: errors.append((error, messages))
    )
    assert client.track("u-1", "E") is False
    assert len(responses.calls) == 1
    assert client.stats()["dropped"] == {"http_error": 1}
    assert errors[0][0].status == status
    assert errors[0][1][0]["event"] == "E"


@responses.activate
def test_client_error_logs_server_message(caplog):
    responses.post(
        BATCH_URL,
        status=401,
        json={"error": {"code": "invalid_write_key", "message": "unknown write key"}},
    )
    sync_client().track("u-1", "E")
    assert "invalid_write_key: unknown write key" in caplog.text
    assert "write-key" not in caplog.text.replace("invalid_write_key", "")


@responses.activate
def test_retries_stop_at_max_retries():
    responses.post(BATCH_URL, status=503, json={})
    client = sync_client(max_retries=3)
    assert client.track("u-1", "E") is False
    assert len(responses.calls) == 4
    assert client.stats()["dropped"] == {"retries_exhausted": 1}
    assert client.stats()["retried"] == 3


@responses.activate
def test_connection_error_is_retried():
    responses.post(BATCH_URL, body=requests.ConnectionError("refused"))
    responses.post(BATCH_URL, json={})
    assert sync_client().track("u-1", "E") is True
    assert len(responses.calls) == 2


@responses.activate
def test_timeout_is_retried():
    responses.post(BATCH_URL, body=requests.ReadTimeout("slow"))
    responses.post(BATCH_URL, json={})
    assert sync_client().track("u-1", "E") is True
    assert len(responses.calls) == 2


@responses.activate
def test_retry_after_is_honoured():
    responses.post(BATCH_URL, status=503, headers={"Retry-After": "0.3"}, json={})
    responses.post(BATCH_URL, json={})
    started = time.monotonic()
    assert sync_client().track("u-1", "E") is True
    assert time.monotonic() - started >= 0.3


@responses.activate
def test_sent_at_is_set_per_attempt():
    responses.post(BATCH_URL, status=503, headers={"Retry-After": "0.01"}, json={})
    responses.post(BATCH_URL, json={})
    sync_client().track("u-1", "E")
    first, second = (request_payload(call) for call in responses.calls)
    assert first["sentAt"] < second["sentAt"]
    assert first["batch"] == second["batch"]


@responses.activate
def test_rejected_messages_reported_not_retried():
    responses.post(
        BATCH_URL,
        json={
            "accepted": 1,
            "duplicates": 0,
            "rejected": [
                {"index": 1, "messageId": "m-2", "errors": {"event": ["too long"]}}
            ],
        },
    )
    errors = []
    client = pug.Client(
        "write-key",
        HOST,
        flush_at=2,
        on_error=lambda e, m: errors.append((e, m)),
        **FAST,
    )
    client.track("u-1", "ok", message_id="m-1")
    client.track("u-1", "bad", message_id="m-2")
    assert client.flush(5) is True
    client.close(1)
    assert len(responses.calls) == 1
    assert (client.stats()["sent"], client.stats()["rejected"]) == (1, 1)
    assert isinstance(errors[0][0], pug.MessageRejectedError)
    assert errors[0][0].errors == {"event": ["too long"]}
    assert errors[0][1][0]["messageId"] == "m-2"


@responses.activate
def test_payload_too_large_splits_batch():
    def answer(request):
        batch = json.loads(gzip.decompress(request.body))["batch"]
        if len(batch) > 2:
            return 413, {}, json.dumps({"error": {"code": "payload_too_large"}})
        return 200, {}, json.dumps({"accepted": len(batch)})

    responses.add_callback(responses.POST, BATCH_URL, callback=answer)
    client = pug.Client("write-key", HOST, flush_at=8, **FAST)
    for index in range(8):
        client.track("u-1", "E", {"i": index})
    assert client.flush(5) is True
    client.close(1)
    sizes = [len(request_payload(call)["batch"]) for call in responses.calls]
    assert sizes == [8, 4, 2, 2, 4, 2, 2]
    assert client.stats()["sent"] == 8


@responses.activate
def test_payload_too_large_single_message_dropped():
    responses.post(BATCH_URL, status=413, json={"error": {"code": "payload_too_large"}})
    client = sync_client()
    assert client.track("u-1", "E") is False
    assert client.stats()["dropped"] == {"oversize": 1}


@responses.activate
def test_non_json_success_body_counts_sent():
    responses.post(BATCH_URL, body="OK")
    client = sync_client()
    assert client.track("u-1", "E") is True
    assert client.stats()["sent"] == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("99999", 300.0),
        ("soon", None),
    ],
)
def test_parse_retry_after_seconds(header, expected):
    assert transport.parse_retry_after(header) == expected


def test_parse_retry_after_http_date():
    moment = time.time() + 30
    header = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(moment))
    assert 25 <= transport.parse_retry_after(header) <= 31


def test_backoff_delay_stays_under_cap():
    delays = [transport.backoff_delay(retry, 0.5, 4.0, None) for retry in range(1, 40)]
    assert max(delays) <= 4.0
    assert min(delays) >= 0.0


def test_backoff_delay_grows_exponentially():
    ceilings = [
        max(transport.backoff_delay(r, 1.0, 100.0, None) for _ in range(300))
        for r in (1, 4)
    ]
    assert ceilings[0] <= 1.0
    assert ceilings[1] > 4.0


def test_backoff_delay_honours_retry_after():
    assert transport.backoff_delay(1, 0.01, 0.01, 2.5) == 2.5


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (599, True),
        (400, False),
        (401, False),
        (413, False),
        (404, False),
    ],
)
def test_status_classification(status, retryable):
    assert transport.is_retryable_status(status) is retryable


@responses.activate
def test_invalid_request_gives_up_without_status():
    responses.post(BATCH_URL, body=requests.exceptions.InvalidHeader("bad header"))
    errors = []
    client = sync_client(on_error=lambda error, messages: errors.append(error))
    assert client.track("u-1", "E") is False
    assert len(responses.calls) == 1
    assert errors[0].status is None
