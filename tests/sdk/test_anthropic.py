"""The official `anthropic` SDK against rota-gateway: messages (plain and the stream helper),
count_tokens, models, the errors it maps to its own exception classes, and Retry-After.

The SDK sends the client key as `Authorization: Bearer` (2.x); rota must answer with
Anthropic credentials upstream (`x-api-key`), which rota-sim checks strictly: a wrong header
shows up as an upstream 401."""

from __future__ import annotations

import time

import anthropic
import pytest

from conftest import (
    MAX_BODY_BYTES, Recorder, anthropic_client, assert_served_by_pool,
    assert_upstream_credential, expect_ok, limit_every_account_and_call, limit_past_the_gateways_attempts, marker, retry_after_problems,
    rota_headers,
)

MODEL = "claude-sonnet-4-5"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_messages_create(gateway, sim):
    client = anthropic_client(gateway)
    raw = expect_ok("messages.create", lambda: client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=user(f"Explain prompt caching {marker()}")))
    message = raw.parse()
    assert message.content[0].text == "Hello from rota-sim."
    email = assert_served_by_pool(raw.headers, "messages")
    assert raw.headers["x-mapped-model"] == MODEL
    assert_upstream_credential(sim, email, "/v1/messages", "x-api-key")


def test_messages_stream_helper(gateway, sim):
    client = anthropic_client(gateway)

    def run():
        with client.messages.stream(model=MODEL, max_tokens=64,
                                    messages=user(f"Stream an answer please {marker()}")) as stream:
            text = "".join(stream.text_stream)
            return text, stream.get_final_message(), stream.response.headers

    text, final, headers = expect_ok("messages.stream", run)
    assert text == "Hello from rota-sim."
    assert final.stop_reason == "end_turn"
    email = assert_served_by_pool(headers, "messages.stream")
    assert_upstream_credential(sim, email, "/v1/messages", "x-api-key")


def test_count_tokens(gateway, sim):
    client = anthropic_client(gateway)
    raw = expect_ok("messages.count_tokens", lambda: client.messages.with_raw_response.count_tokens(
        model=MODEL, messages=user(f"How many tokens is this {marker()}")))
    assert raw.parse().input_tokens > 0
    email = assert_served_by_pool(raw.headers, "count_tokens")
    assert_upstream_credential(sim, email, "/v1/messages/count_tokens", "x-api-key")


def test_models_list_and_retrieve(gateway, sim, recorder: Recorder):
    """`GET /v1/models` with `anthropic-version` is Anthropic's: the account key must go
    upstream as `x-api-key` (a bearer is a 401 at the sim)."""
    client = anthropic_client(gateway, recorder=recorder)
    models = expect_ok("models.list", lambda: list(client.models.list()))
    assert MODEL in [m.id for m in models]
    email = assert_served_by_pool(recorder.last.headers, "models.list", has_model=False)
    assert_upstream_credential(sim, email, "/v1/models", "x-api-key")

    model = expect_ok("models.retrieve", lambda: client.models.retrieve(MODEL))
    assert model.id == MODEL
    email = assert_served_by_pool(recorder.last.headers, "models.retrieve", has_model=False)
    assert_upstream_credential(sim, email, f"/v1/models/{MODEL}", "x-api-key")


# ---------------------------------------------------------------------------------------
# Errors


def test_wrong_client_key_is_authentication_error(gateway, sim):
    client = anthropic_client(gateway, api_key="sk-wrong")
    with pytest.raises(anthropic.AuthenticationError) as err:
        client.messages.create(model=MODEL, max_tokens=16, messages=user("hello there"))
    assert err.value.status_code == 401
    assert sim.requests() == []


def test_oversize_body_is_413(gateway, sim):
    client = anthropic_client(gateway)
    big = "x" * (MAX_BODY_BYTES + 1024)
    with pytest.raises(anthropic.ContentTooLargeError) as err:
        client.messages.create(model=MODEL, max_tokens=16, messages=user(big))
    assert err.value.status_code == 413
    assert sim.requests() == []


def test_all_accounts_limited_is_rate_limit_error(gateway, sim):
    """As for OpenAI: RateLimitError with Retry-After and retry-after-ms, on the upstream's
    429 passed on and on rota's own answer, which must be in Anthropic's error dialect."""
    client = anthropic_client(gateway)
    answers = limit_every_account_and_call(sim, lambda n: client.messages.create(
        model=MODEL, max_tokens=16, messages=user(f"Still there? {n} {marker()}")), anthropic.RateLimitError)
    problems = retry_after_problems(answers, want_ms=True)
    own = answers[-1]
    if not own.reached_upstream and (own.body or {}).get("type") != "error":
        problems.append(f"rota's own 429 is not in Anthropic's dialect: {own.body}")
    assert not problems, "\n".join(problems + [f"headers: {[rota_headers(a.headers) for a in answers]}"])


def test_sdk_honours_retry_after(gateway, sim, recorder: Recorder):
    """Same scenario as the OpenAI one: the 429 reaches the SDK with Retry-After: 1 and the
    SDK (max_retries=2) waits ~1 s before its retry, which succeeds."""
    client = anthropic_client(gateway, max_retries=2, recorder=recorder)
    first = f"Let us talk about patience {marker()}"
    turn1 = expect_ok("turn 1", lambda: client.messages.with_raw_response.create(
        model=MODEL, max_tokens=32, messages=user(first)))
    owner = turn1.headers["x-account-email"]
    limit_past_the_gateways_attempts(sim, owner, delay=1)
    recorder.exchanges.clear()
    upstream_before = len(sim.requests())

    started = time.monotonic()
    messages = user(first) + [{"role": "assistant", "content": "Hello from rota-sim."},
                              {"role": "user", "content": "And now?"}]
    message = expect_ok("turn 2", lambda: client.messages.create(model=MODEL, max_tokens=32, messages=messages))
    elapsed = time.monotonic() - started

    assert message.content[0].text == "Hello from rota-sim."
    assert elapsed >= 0.9, f"the call took {elapsed:.2f} s: nobody waited for the 1 s delay"
    assert len(sim.requests()) - upstream_before >= 4, "the upstream did not see the SDK's retried request"
    statuses = [ex.status for ex in recorder.exchanges]
    print("SDK-level exchanges:", [(ex.status, rota_headers(ex.headers)) for ex in recorder.exchanges])
    assert statuses[0] == 429 and statuses[-1] == 200, f"SDK-level answers: {statuses}"
    limited = recorder.exchanges[0]
    assert limited.headers.get("retry-after") == "1", rota_headers(limited.headers)
    waited = recorder.exchanges[1].sent_at - limited.received_at
    assert waited >= 0.9, f"the SDK retried after {waited:.2f} s, not after rota's Retry-After (1 s)"
