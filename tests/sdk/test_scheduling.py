"""Cross-cutting scheduling behaviour seen through the official SDKs: conversations stay on
one account (SPEC §2, §3), a Responses chain stays on the account that owns it (§3a),
`prompt_cache_key` routes, and a rate-limited account is rotated away within one SDK call
(§4). The gateway runs with `window_seconds = 0`, so only stickiness keeps a conversation
on its account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from conftest import (
    KEY_OF, anthropic_client, expect_ok, genai_client, marker, openai_client, rota_headers,
)

ANSWER = "Hello from rota-sim."


@dataclass
class Turn:
    email: str
    headers: dict[str, str]


# One conversation turn per SDK: `history` is the list of user messages so far (the first
# one fixed, one more per turn); returns who served it.

def chat_turn(gateway) -> Callable[[list[str]], Turn]:
    client = openai_client(gateway)

    def turn(history: list[str]) -> Turn:
        messages = []
        for i, text in enumerate(history):
            if i:
                messages.append({"role": "assistant", "content": ANSWER})
            messages.append({"role": "user", "content": text})
        raw = expect_ok(f"chat turn {len(history)}", lambda: client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=messages))
        return Turn(raw.headers.get("x-account-email", ""), rota_headers(raw.headers))

    return turn


def anthropic_turn(gateway) -> Callable[[list[str]], Turn]:
    client = anthropic_client(gateway)

    def turn(history: list[str]) -> Turn:
        messages = []
        for i, text in enumerate(history):
            if i:
                messages.append({"role": "assistant", "content": ANSWER})
            messages.append({"role": "user", "content": text})
        raw = expect_ok(f"messages turn {len(history)}", lambda: client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=messages))
        return Turn(raw.headers.get("x-account-email", ""), rota_headers(raw.headers))

    return turn


def gemini_turn(gateway) -> Callable[[list[str]], Turn]:
    client = genai_client(gateway, api_version="v1beta")

    def turn(history: list[str]) -> Turn:
        contents = []
        for i, text in enumerate(history):
            if i:
                contents.append({"role": "model", "parts": [{"text": ANSWER}]})
            contents.append({"role": "user", "parts": [{"text": text}]})
        response = expect_ok(f"gemini turn {len(history)}", lambda: client.models.generate_content(
            model="gemini-2.5-pro", contents=contents))
        headers = dict(response.sdk_http_response.headers)
        return Turn(headers.get("x-account-email", ""), rota_headers(headers))

    return turn


PROTOCOLS = {"chat": chat_turn, "anthropic": anthropic_turn, "gemini": gemini_turn}


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_conversation_sticks_to_one_account(gateway, protocol):
    """Two conversations, interleaved, three turns each: each stays on its account."""
    turn = PROTOCOLS[protocol](gateway)
    histories = [[f"Plan a three-day trip to Lisbon {marker()}"], [f"Explain the CAP theorem {marker()}"]]
    served: list[list[Turn]] = [[], []]
    for step in range(3):
        for i, history in enumerate(histories):
            if step:
                history.append(f"Follow-up question number {step}")
            served[i].append(turn(history))
    print("served:", [[(t.email, t.headers.get("x-rota-decision")) for t in turns] for turns in served])
    for i, turns in enumerate(served):
        emails = [t.email for t in turns]
        assert len(set(emails)) == 1 and emails[0], f"conversation {i} moved between accounts: {emails}"
        decisions = [t.headers.get("x-rota-decision") for t in turns[1:]]
        assert decisions == ["sticky", "sticky"], f"conversation {i}: later turns decided {decisions}"


def test_responses_chain_stays_on_its_account(gateway, sim):
    """Three turns chained with `previous_response_id`, each sending only the new input: the
    stored response lives on one account (the upstream answers 400
    previous_response_not_found anywhere else), so the chain must stay there (SPEC §3a)."""
    client = openai_client(gateway)
    previous = None
    emails = []
    for step, text in enumerate([f"Start a story about a lighthouse {marker()}", "Add a storm", "End it"]):
        kwargs = {"previous_response_id": previous} if previous else {}
        raw = expect_ok(f"responses chain turn {step + 1} (previous_response_id={previous})",
                        lambda: client.responses.with_raw_response.create(model="gpt-4o", input=text, **kwargs))
        response = raw.parse()
        assert response.output_text == ANSWER
        emails.append(raw.headers.get("x-account-email"))
        previous = response.id
    assert len(set(emails)) == 1, f"the chain moved between accounts: {emails}"


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_prompt_cache_key_routes_to_one_account(gateway, api):
    """Different first messages, one `prompt_cache_key`: one account (SPEC §2 rule 3)."""
    client = openai_client(gateway)
    key = f"pck-{marker()}"
    emails = []
    for i in range(3):
        text = f"A different first message {i} {marker()}"
        if api == "chat":
            raw = expect_ok("chat with prompt_cache_key", lambda: client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": text}], prompt_cache_key=key))
        else:
            raw = expect_ok("responses with prompt_cache_key", lambda: client.responses.with_raw_response.create(
                model="gpt-4o", input=text, prompt_cache_key=key))
        emails.append(raw.headers.get("x-account-email"))
    assert len(set(emails)) == 1, f"one prompt_cache_key, several accounts: {emails}"


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_rate_limited_account_rotates_within_one_call(gateway, sim, protocol):
    """The conversation's account answers 429 (retry in 30 s): the next turn still succeeds
    in ONE SDK call (the SDK does not retry: max_retries=0), on another account, after two
    attempts; the turn after that stays on the new account."""
    turn = PROTOCOLS[protocol](gateway)
    history = [f"Compare Rust and Go for services {marker()}"]
    first = turn(history)
    assert first.email, f"no X-Account-Email on turn 1: {first.headers}"
    sim.rate_limit(KEY_OF[first.email], times=1, delay=30)

    history.append("Now in one sentence")
    second = turn(history)
    print("turn 1:", first.headers, "turn 2:", second.headers)
    assert second.headers.get("x-rota-attempts") == "2", f"turn 2: {second.headers}"
    assert second.email and second.email != first.email, f"turn 2 stayed on {first.email}: {second.headers}"
    assert second.headers.get("x-rota-decision") == "rotation", f"turn 2: {second.headers}"
    limited = [r for r in sim.requests(KEY_OF[first.email]) if r["status"] == 429]
    assert len(limited) == 1, "the rate-limited account was not tried first"

    history.append("Thanks, one more")
    third = turn(history)
    assert third.email == second.email, f"turn 3 left the new account: {third.headers}"
    assert third.headers.get("x-rota-attempts") == "1", f"turn 3: {third.headers}"
