"""The README's "Pointing clients at it" recipes, as written: each SDK configured only by the
environment variables the README gives, and the request shapes of the coding agents built
on them (Claude Code on the Anthropic API, Codex CLI on the Responses API, Gemini CLI on
google-genai) held on one account over three turns."""

from __future__ import annotations

import uuid

import anthropic
import openai
from google import genai

from conftest import CLIENT_KEY, SDK_TIMEOUT, expect_ok, marker


def test_openai_from_the_environment(gateway, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"{gateway.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", CLIENT_KEY)
    client = openai.OpenAI(max_retries=0, timeout=SDK_TIMEOUT)
    raw = expect_ok("chat", lambda: client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"Hello from the environment {marker()}"}]))
    assert raw.headers.get("x-account-email")


def test_anthropic_from_the_environment(gateway, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", gateway.url)
    for variable in ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        monkeypatch.setenv(variable, CLIENT_KEY)
        client = anthropic.Anthropic(max_retries=0, timeout=SDK_TIMEOUT)
        raw = expect_ok(variable, lambda: client.messages.with_raw_response.create(
            model="claude-sonnet-4-5", max_tokens=16,
            messages=[{"role": "user", "content": f"Hello from {variable} {marker()}"}]))
        assert raw.headers.get("x-account-email"), variable


def test_gemini_from_the_environment(gateway, monkeypatch):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gateway.url)
    monkeypatch.setenv("GEMINI_API_KEY", CLIENT_KEY)
    client = genai.Client()
    response = expect_ok("generate_content", lambda: client.models.generate_content(
        model="gemini-2.5-pro", contents=f"Hello from the environment {marker()}"))
    assert dict(response.sdk_http_response.headers).get("x-account-email")


def test_claude_code_shape_stays_on_one_account(gateway, monkeypatch):
    """Claude Code: `metadata.user_id` carries its session (`…_session_<uuid>`, without
    `session-`, so it is the session key by SPEC §2), a token count (without metadata, so
    keyed by the first message) before each streamed turn, the system prompt in `system`.
    The turns stay on one account, and so do the token counts."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", gateway.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", CLIENT_KEY)
    client = anthropic.Anthropic(max_retries=0, timeout=SDK_TIMEOUT)
    user_id = f"user_{uuid.uuid4().hex}_account__session_{uuid.uuid4()}"
    messages = [{"role": "user", "content": [{"type": "text", "text": f"Fix the failing test in src/lib.rs {marker()}"}]}]
    served = []
    for turn in range(3):
        count = expect_ok("count_tokens", lambda: client.messages.with_raw_response.count_tokens(
            model="claude-sonnet-4-5", system="You are Claude Code.", messages=messages))
        with client.messages.with_streaming_response.create(
            model="claude-sonnet-4-5", max_tokens=64, system="You are Claude Code.", stream=True,
            metadata={"user_id": user_id}, messages=messages,
        ) as raw:
            assert raw.status_code == 200
            served.append((count.headers.get("x-account-email"), raw.headers.get("x-account-email")))
            for _ in raw.iter_lines():
                pass
        messages += [{"role": "assistant", "content": "Done."},
                     {"role": "user", "content": f"Now turn {turn + 2}"}]
    counts, turns = zip(*served)
    assert len(set(turns)) == 1 and turns[0], f"Claude Code turns moved: {served}"
    assert len(set(counts)) == 1 and counts[0], f"Claude Code token counts moved: {served}"


def test_codex_shape_stays_on_one_account(gateway):
    """Codex CLI: streamed Responses with `store: false`, the whole input every turn, and its
    conversation id as `prompt_cache_key`."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=CLIENT_KEY, max_retries=0,
                           timeout=SDK_TIMEOUT)
    conversation = str(uuid.uuid4())
    items = [{"role": "user", "content": [{"type": "input_text",
                                            "text": f"<environment_context>cwd: /src {marker()}</environment_context>"}]}]
    served = []
    for turn in range(3):
        items.append({"role": "user", "content": [{"type": "input_text", "text": f"Step {turn}: run the tests"}]})
        with client.responses.with_streaming_response.create(
            model="gpt-5-codex", instructions="You are Codex.", input=items, stream=True, store=False,
            prompt_cache_key=conversation,
        ) as raw:
            assert raw.status_code == 200
            served.append(raw.headers.get("x-account-email"))
            for _ in raw.iter_lines():
                pass
        items.append({"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]})
    assert len(set(served)) == 1 and served[0], f"Codex turns moved: {served}"


def test_gemini_cli_shape_stays_on_one_account(gateway, monkeypatch):
    """Gemini CLI: google-genai from the environment, streamed turns with a token count."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gateway.url)
    monkeypatch.setenv("GEMINI_API_KEY", CLIENT_KEY)
    client = genai.Client()
    contents = [{"role": "user", "parts": [{"text": f"Summarise the README of this repository {marker()}"}]}]
    served = []
    for turn in range(3):
        count = expect_ok("count_tokens", lambda: client.models.count_tokens(
            model="gemini-2.5-pro", contents=contents))
        served.append(dict(count.sdk_http_response.headers).get("x-account-email"))
        for chunk in client.models.generate_content_stream(model="gemini-2.5-pro", contents=contents):
            served.append(dict(chunk.sdk_http_response.headers).get("x-account-email"))
        contents += [{"role": "model", "parts": [{"text": "Done."}]},
                     {"role": "user", "parts": [{"text": f"And part {turn + 2}"}]}]
    assert len(set(served)) == 1 and served[0], f"Gemini CLI turns moved: {served}"
