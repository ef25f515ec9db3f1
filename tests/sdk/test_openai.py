"""The official `openai` SDK against rota-gateway: every OpenAI route, the errors it maps to
its own exception classes, and Retry-After honoured by the SDK's own retry."""

from __future__ import annotations

import time

import openai
import pytest

from conftest import (
    MAX_BODY_BYTES, Recorder, assert_served_by_pool, assert_upstream_credential,
    expect_ok, limit_every_account_and_call, limit_past_the_gateways_attempts, marker, openai_client, retry_after_problems, rota_headers,
)

MODEL = "gpt-4o"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_chat_completion(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("chat.completions.create", lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user(f"Plan a trip to Lisbon {marker()}")))
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from rota-sim."
    email = assert_served_by_pool(raw.headers, "chat")
    assert raw.headers["x-rota-attempts"] == "1"
    assert raw.headers["x-mapped-model"] == MODEL
    assert_upstream_credential(sim, email, "/v1/chat/completions", "authorization")


def test_chat_completion_stream(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("chat stream", lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user(f"Stream me a haiku {marker()}"), stream=True,
        stream_options={"include_usage": True}))
    email = assert_served_by_pool(raw.headers, "chat stream")
    text = ""
    usage = None
    for chunk in raw.parse():
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        usage = chunk.usage or usage
    assert text == "Hello from rota-sim."
    assert usage is not None and usage.completion_tokens > 0
    assert_upstream_credential(sim, email, "/v1/chat/completions", "authorization")


def test_model_mapping_header(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("mapped chat", lambda: client.chat.completions.with_raw_response.create(
        model="sdk-alias-gpt", messages=user(f"Which model are you {marker()}")))
    assert raw.headers.get("x-mapped-model") == MODEL, rota_headers(raw.headers)
    assert sim.requests()[-1]["model"] == MODEL


def test_responses_create(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("responses.create", lambda: client.responses.with_raw_response.create(
        model=MODEL, input=f"Write a limerick about caches {marker()}"))
    response = raw.parse()
    assert response.id.startswith("resp_")
    assert response.output_text == "Hello from rota-sim."
    email = assert_served_by_pool(raw.headers, "responses")
    assert_upstream_credential(sim, email, "/v1/responses", "authorization")


def test_responses_stream_helper(gateway, recorder: Recorder):
    client = openai_client(gateway, recorder=recorder)

    def run():
        with client.responses.stream(model=MODEL, input=f"Stream a limerick please {marker()}") as stream:
            kinds = [event.type for event in stream]
            return kinds, stream.get_final_response()

    kinds, final = expect_ok("responses.stream", run)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert final.output_text == "Hello from rota-sim."
    assert_served_by_pool(recorder.last.headers, "responses.stream")


def test_responses_retrieve_input_items_delete(gateway, sim):
    """A stored response lives on the account that created it: every follow-up must reach
    that account (SPEC §3a) — anywhere else the upstream answers 404."""
    client = openai_client(gateway)
    created = expect_ok("responses.create", lambda: client.responses.with_raw_response.create(
        model=MODEL, input=f"Remember this for later {marker()}"))
    owner = created.headers.get("x-account-email")
    response = created.parse()

    raw = expect_ok("responses.retrieve", lambda: client.responses.with_raw_response.retrieve(response.id))
    assert raw.parse().id == response.id
    assert raw.headers.get("x-account-email") == owner, rota_headers(raw.headers)

    items = expect_ok("responses.input_items.list", lambda: list(client.responses.input_items.list(response.id)))
    assert items and items[0].content[0].text.startswith("Remember this for later")

    expect_ok("responses.delete", lambda: client.responses.delete(response.id))
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_responses_cancel(gateway):
    client = openai_client(gateway)
    response = expect_ok("responses.create(background)", lambda: client.responses.create(
        model=MODEL, input=f"A long background job {marker()}", background=True))
    cancelled = expect_ok("responses.cancel", lambda: client.responses.cancel(response.id))
    assert cancelled.id == response.id
    assert cancelled.status == "cancelled"


def test_conversations(gateway):
    """Conversations (`conv_…`) are objects of one account too (SPEC §3a)."""
    client = openai_client(gateway)
    conversation = expect_ok("conversations.create", lambda: client.conversations.create(
        metadata={"topic": "sdk-suite"}))
    assert conversation.id.startswith("conv_")
    again = expect_ok("conversations.retrieve", lambda: client.conversations.retrieve(conversation.id))
    assert again.id == conversation.id
    response = expect_ok("responses.create(conversation=…)", lambda: client.responses.create(
        model=MODEL, input=f"First turn in a conversation {marker()}", conversation=conversation.id))
    assert response.output_text == "Hello from rota-sim."


def test_embeddings(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("embeddings.create", lambda: client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one sentence", "another one"], dimensions=8))
    result = raw.parse()
    assert [len(d.embedding) for d in result.data] == [8, 8]
    email = assert_served_by_pool(raw.headers, "embeddings")
    assert_upstream_credential(sim, email, "/v1/embeddings", "authorization")


def test_legacy_completions(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("completions.create", lambda: client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt=f"Once upon a time {marker()}"))
    assert raw.parse().choices[0].text == "Hello from rota-sim."
    email = assert_served_by_pool(raw.headers, "completions")
    assert_upstream_credential(sim, email, "/v1/completions", "authorization")


def test_models_list_and_retrieve(gateway, sim):
    client = openai_client(gateway)
    raw = expect_ok("models.list", lambda: client.models.with_raw_response.list())
    ids = [m.id for m in raw.parse()]
    assert MODEL in ids, ids
    email = assert_served_by_pool(raw.headers, "models.list", has_model=False)
    assert_upstream_credential(sim, email, "/v1/models", "authorization")

    model = expect_ok("models.retrieve", lambda: client.models.retrieve(MODEL))
    assert model.id == MODEL


# ---------------------------------------------------------------------------------------
# Errors: each must arrive as the SDK's own exception class


def test_wrong_client_key_is_authentication_error(gateway, sim):
    client = openai_client(gateway, api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(model=MODEL, messages=user("hello there, who are you?"))
    assert err.value.status_code == 401
    assert sim.requests() == [], "a request with a wrong client key reached the upstream"


def test_oversize_body_is_413(gateway, sim):
    client = openai_client(gateway)
    big = "x" * (MAX_BODY_BYTES + 1024)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model=MODEL, messages=user(big))
    assert err.value.status_code == 413, f"expected 413, got {err.value.status_code}: {err.value.body}"
    assert sim.requests() == []


def test_all_accounts_limited_is_rate_limit_error(gateway, sim):
    """Every account answers 429 (retry in 30 s): the SDK raises RateLimitError, with
    Retry-After and retry-after-ms, first on the upstream's own 429 passed on, then on rota's
    own "all limited" answer (no upstream request at all)."""
    client = openai_client(gateway)
    answers = limit_every_account_and_call(sim, lambda n: client.chat.completions.create(
        model=MODEL, messages=user(f"Are you there? call {n} {marker()}")), openai.RateLimitError)
    problems = retry_after_problems(answers, want_ms=True)
    assert not problems, "\n".join(problems + [f"headers: {[rota_headers(a.headers) for a in answers]}"])


def test_sdk_honours_retry_after(gateway, sim, recorder: Recorder):
    """The SDK's own retry waits for rota's Retry-After / retry-after-ms.

    The conversation's account answers 429 (retry in 1 s) twice and every other account
    once, so the gateway's attempts (at most 3, grace retry included) all meet a 429 and the
    429 reaches the SDK; the SDK (max_retries=2) must wait ~1 s, retry, and succeed."""
    client = openai_client(gateway, max_retries=2, recorder=recorder)
    first = f"Let us talk about patience {marker()}"
    turn1 = expect_ok("turn 1", lambda: client.chat.completions.with_raw_response.create(
        model=MODEL, messages=user(first)))
    owner = turn1.headers["x-account-email"]
    limit_past_the_gateways_attempts(sim, owner, delay=1)
    recorder.exchanges.clear()
    upstream_before = len(sim.requests())

    started = time.monotonic()
    messages = user(first) + [{"role": "assistant", "content": "Hello from rota-sim."},
                              {"role": "user", "content": "And now?"}]
    completion = expect_ok("turn 2", lambda: client.chat.completions.create(model=MODEL, messages=messages))
    elapsed = time.monotonic() - started

    assert completion.choices[0].message.content == "Hello from rota-sim."
    assert elapsed >= 0.9, f"the call took {elapsed:.2f} s: nobody waited for the 1 s delay"
    assert len(sim.requests()) - upstream_before >= 4, "the upstream did not see the SDK's retried request"
    statuses = [ex.status for ex in recorder.exchanges]
    print("SDK-level exchanges:", [(ex.status, rota_headers(ex.headers)) for ex in recorder.exchanges])
    assert statuses[0] == 429 and statuses[-1] == 200, f"SDK-level answers: {statuses}"
    limited = recorder.exchanges[0]
    assert limited.headers.get("retry-after") == "1", rota_headers(limited.headers)
    waited = recorder.exchanges[1].sent_at - limited.received_at
    assert waited >= 0.9, f"the SDK retried after {waited:.2f} s, not after rota's Retry-After (1 s)"

