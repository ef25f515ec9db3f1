"""The official `google-genai` SDK against rota-gateway, with the SDK's default API version
and with `v1` and `v1beta` set explicitly (SPEC §7: Gemini routes under both).

The client key travels in `x-goog-api-key`; rota must send the account key upstream in
`x-goog-api-key` as well. google-genai does not retry unless asked (no `retry_options`), and
its retry does not read Retry-After, so there is no Retry-After test here."""

from __future__ import annotations

import pytest
from google.genai import errors, types

from conftest import (
    MAX_BODY_BYTES, Recorder, assert_served_by_pool, assert_upstream_credential, expect_ok,
    genai_client, limit_every_account_and_call, marker, retry_after_problems, rota_headers,
)

MODEL = "gemini-2.5-pro"
VERSIONS = [None, "v1", "v1beta"]
IDS = ["default", "v1", "v1beta"]


@pytest.fixture(params=VERSIONS, ids=IDS)
def version(request) -> str | None:
    return request.param


def path_of(client, method: str = "") -> str:
    """`/{api_version}/models/{MODEL}{method}`: where the SDK sends it."""
    return f"/{client._api_client._http_options.api_version}/models/{MODEL}{method}"


def test_default_api_version_is_known(gateway):
    client = genai_client(gateway)
    assert client._api_client._http_options.api_version in {"v1", "v1beta"}


def test_generate_content(gateway, sim, version):
    client = genai_client(gateway, api_version=version)
    response = expect_ok("generate_content", lambda: client.models.generate_content(
        model=MODEL, contents=f"Describe the Lisbon trams {marker()}"))
    assert response.text == "Hello from rota-sim."
    email = assert_served_by_pool(response.sdk_http_response.headers, "generate_content")
    assert response.sdk_http_response.headers.get("x-mapped-model") == MODEL
    assert_upstream_credential(sim, email, path_of(client, ":generateContent"), "x-goog-api-key")


def test_generate_content_stream(gateway, sim, version):
    client = genai_client(gateway, api_version=version)

    def run():
        return list(client.models.generate_content_stream(model=MODEL, contents=f"Stream a poem {marker()}"))

    chunks = expect_ok("generate_content_stream", run)
    assert "".join(c.text or "" for c in chunks) == "Hello from rota-sim."
    email = assert_served_by_pool(chunks[0].sdk_http_response.headers, "generate_content_stream")
    assert_upstream_credential(sim, email, path_of(client, ":streamGenerateContent"), "x-goog-api-key")


def test_count_tokens(gateway, sim, version):
    client = genai_client(gateway, api_version=version)
    result = expect_ok("count_tokens", lambda: client.models.count_tokens(
        model=MODEL, contents=f"How many tokens is this {marker()}"))
    assert result.total_tokens > 0
    email = assert_served_by_pool(result.sdk_http_response.headers, "count_tokens")
    assert_upstream_credential(sim, email, path_of(client, ":countTokens"), "x-goog-api-key")


def test_embed_content(gateway, sim, version):
    client = genai_client(gateway, api_version=version)
    model = "text-embedding-004"
    result = expect_ok("embed_content", lambda: client.models.embed_content(
        model=model, contents=["first text to embed", "second text to embed"]))
    assert len(result.embeddings) == 2 and result.embeddings[0].values
    email = assert_served_by_pool(result.sdk_http_response.headers, "embed_content")
    assert_upstream_credential(sim, email, f"/models/{model}:", "x-goog-api-key")


def test_models_get_and_list(gateway, sim, version, recorder: Recorder):
    client = genai_client(gateway, api_version=version, recorder=recorder)
    model = expect_ok("models.get", lambda: client.models.get(model=MODEL))
    assert model.name == f"models/{MODEL}"
    email = assert_served_by_pool(recorder.last.headers, "models.get")
    assert_upstream_credential(sim, email, path_of(client), "x-goog-api-key")

    names = expect_ok("models.list", lambda: [m.name for m in client.models.list()])
    assert f"models/{MODEL}" in names, names
    email = assert_served_by_pool(recorder.last.headers, "models.list", has_model=False)
    assert_upstream_credential(sim, email, "/models", "x-goog-api-key")


def test_model_mapping_in_path(gateway, sim):
    client = genai_client(gateway, api_version="v1beta")
    response = expect_ok("generate_content (mapped)", lambda: client.models.generate_content(
        model="sdk-alias-gemini", contents=f"Which model are you {marker()}"))
    assert response.sdk_http_response.headers.get("x-mapped-model") == MODEL
    assert sim.requests()[-1]["path"] == f"/v1beta/models/{MODEL}:generateContent"


# ---------------------------------------------------------------------------------------
# Errors: google-genai raises errors.ClientError (4xx) with `code` = the HTTP status


def test_wrong_client_key_is_401(gateway, sim, version):
    client = genai_client(gateway, api_version=version, api_key="sk-wrong")
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model=MODEL, contents="hello there, who are you?")
    assert err.value.code == 401, f"expected 401, got {err.value}"
    assert sim.requests() == []


def test_oversize_body_is_413(gateway, sim, version):
    client = genai_client(gateway, api_version=version)
    with pytest.raises(errors.ClientError) as err:
        client.models.generate_content(model=MODEL, contents="x" * (MAX_BODY_BYTES + 1024))
    assert err.value.code == 413, f"expected 413, got {err.value}"
    assert sim.requests() == []


def test_all_accounts_limited_is_429(gateway, sim, version):
    """ClientError 429 with Retry-After, on the upstream's 429 passed on and on rota's own
    answer, whose Gemini body must carry a google.rpc.RetryInfo detail (SPEC §6)."""
    client = genai_client(gateway, api_version=version)

    def call(n: int):
        try:
            client.models.generate_content(model=MODEL, contents=f"Still there? {n} {marker()}")
        except errors.ClientError as err:
            assert err.code == 429, f"call {n}: expected 429, got {err}"
            raise

    answers = limit_every_account_and_call(sim, call, errors.ClientError)
    problems = retry_after_problems(answers, want_ms=False)
    own = answers[-1]
    details = ((own.body or {}).get("error") or {}).get("details") or []
    if not own.reached_upstream and not any(d.get("@type", "").endswith("google.rpc.RetryInfo") for d in details):
        problems.append(f"rota's own Gemini 429 has no google.rpc.RetryInfo detail: {own.body}")
    assert not problems, "\n".join(problems + [f"headers: {[rota_headers(a.headers) for a in answers]}"])
