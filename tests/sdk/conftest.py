"""Fixtures of the official-SDK suite: the real rota-gateway over rota-sim, and helpers.

Session scope: one rota-sim (`examples/serve --control`) and one `rota-gateway --config` on
free loopback ports, killed at the end. Before every test the sim's scripts and request log
are reset and the gateway's bindings and cooldowns cleared, so tests are independent.

Binaries: $ROTA_GATEWAY_BIN and $ROTA_SIM_BIN (set by .ci/sdk.sh), else
${CARGO_TARGET_DIR:-<repo>/target}/debug/{rota-gateway,examples/serve}.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

REPO = Path(__file__).resolve().parents[2]
CLIENT_KEY = "sk-client"
ADMIN_TOKEN = "sdk-admin"
MAX_BODY_BYTES = 1_048_576
SDK_TIMEOUT = 20.0  # seconds, every SDK call
HTTP_TIMEOUT = 10.0  # seconds, every control/admin call
START_TIMEOUT = 30.0  # seconds for a process to open its port

# (email, tier, upstream key): the gateway's pool.
ACCOUNTS = [
    ("ultra@sdk.test", "ULTRA", "key-ultra"),
    ("pro1@sdk.test", "PRO", "key-pro1"),
    ("pro2@sdk.test", "PRO", "key-pro2"),
    ("free@sdk.test", "FREE", "key-free"),
]
EMAILS = [a[0] for a in ACCOUNTS]
KEY_OF = {email: key for email, _, key in ACCOUNTS}

# Environment the SDKs read that would point them elsewhere or change their defaults.
_SDK_ENV = [
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
    "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
    "GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
]
for _name in _SDK_ENV:
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


# ---------------------------------------------------------------------------------------
# Processes


def _binary(env: str, *relative: str) -> Path:
    if os.environ.get(env):
        path = Path(os.environ[env])
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
        if not target.is_absolute():
            target = REPO / target
        path = target.joinpath("debug", *relative)
    if not path.is_file():
        pytest.exit(f"{path} not found: build it first (bash .ci/sdk.sh does), or set ${env}", 2)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{proc.args[0]} did not open port {port} in {START_TIMEOUT} s:\n{log.read_text()}")


def _start(args: list[str], log: Path, ports: list[int]) -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        for port in ports:
            _wait_for_port(port, proc, log)
    except BaseException:
        _stop(proc, signal.SIGKILL)
        raise
    return proc


def _stop(proc: subprocess.Popen, sig: int) -> None:
    """Stops one process this suite started (by its own handle), killing it if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------
# The simulated upstream and its control API


@dataclass
class Sim:
    """rota-sim (the upstream) and the control API of `examples/serve --control`."""

    url: str
    control: str
    http: httpx.Client

    def script(self, key: str, status: int, times: int | None = 1, *, retry_after_secs: float | None = None,
               reason: str | None = None, retry_after_header: int | None = None) -> None:
        """The next `times` requests with upstream credential `key` get `status` (429: a
        Google-shaped rate limit, `retry_after_secs` as its RetryInfo delay)."""
        body: dict[str, Any] = {"status": status}
        for name, value in [("times", times), ("retry_after_secs", retry_after_secs), ("reason", reason),
                            ("retry_after_header", retry_after_header)]:
            if value is not None:
                body[name] = value
        self.http.post(f"{self.control}/script/{key}", json=body).raise_for_status()

    def rate_limit(self, key: str, times: int, delay: float) -> None:
        """`times` answers 429 RATE_LIMIT_EXCEEDED with a RetryInfo delay of `delay` s."""
        self.script(key, 429, times, retry_after_secs=delay, reason="RATE_LIMIT_EXCEEDED")

    def reset(self) -> None:
        self.http.post(f"{self.control}/reset").raise_for_status()

    def requests(self, key: str | None = None) -> list[dict[str, Any]]:
        """What the upstream received (optionally only with credential `key`), oldest first."""
        params = {"key": key} if key else None
        res = self.http.get(f"{self.control}/requests", params=params)
        res.raise_for_status()
        return res.json()


@dataclass
class Gateway:
    """The real rota-gateway binary, and its admin API."""

    url: str
    log: Path
    http: httpx.Client

    def _admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        res = self.http.request(method, f"{self.url}/admin{path}",
                                headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, **kw)
        res.raise_for_status()
        return res

    def clear_bindings(self) -> None:
        self._admin("POST", "/bindings/clear")

    def clear_cooldowns(self) -> None:
        for email in EMAILS:
            self._admin("DELETE", f"/accounts/{email}/cooldowns")

    def accounts(self) -> list[dict[str, Any]]:
        return self._admin("GET", "/accounts").json()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def gateway_config(port: int, sim_url: str, state_dir: Path) -> str:
    accounts = "\n".join(
        f'[[accounts]]\nemail = "{email}"\ntier = "{tier}"\napi_key = "{key}"\n' for email, tier, key in ACCOUNTS
    )
    return f"""\
listen = "127.0.0.1:{port}"
state_dir = "{state_dir}"
max_body_bytes = {MAX_BODY_BYTES}
workers = 2

[auth]
api_keys = ["{CLIENT_KEY}"]
admin_token = "{ADMIN_TOKEN}"

[upstream]
base_url = "{sim_url}"
timeout = "20s"

[scheduling]
mode = "Balance"
# No window: a new conversation is placed by rotation, so stickiness is what keeps a
# conversation on one account (with the window, every new conversation would follow the
# last-used account and stickiness tests would pass without it).
window_seconds = 0
max_attempts = 3

[model_mapping]
"sdk-alias-gpt" = "gpt-4o"
"sdk-alias-gemini" = "gemini-2.5-pro"

{accounts}"""


@pytest.fixture(scope="session")
def control_http() -> httpx.Client:
    with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as client:
        yield client


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory, control_http: httpx.Client) -> Sim:
    binary = _binary("ROTA_SIM_BIN", "examples", "serve")
    port, control = free_port(), free_port()
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    proc = _start([str(binary), f"127.0.0.1:{port}", "--control", f"127.0.0.1:{control}"], log, [port, control])
    try:
        yield Sim(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{control}", control_http)
    finally:
        _stop(proc, signal.SIGINT)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory, sim: Sim, control_http: httpx.Client) -> Gateway:
    binary = _binary("ROTA_GATEWAY_BIN", "rota-gateway")
    port = free_port()
    tmp = tmp_path_factory.mktemp("gateway")
    config = tmp / "rota.toml"
    config.write_text(gateway_config(port, sim.url, tmp / "state"))
    log = tmp / "gateway.log"
    env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "info")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(binary), "--config", str(config)], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)
    try:
        _wait_for_port(port, proc, log)
        yield Gateway(f"http://127.0.0.1:{port}", log, control_http)
    finally:
        _stop(proc, signal.SIGTERM)


@pytest.fixture(autouse=True)
def clean(sim: Sim, gateway: Gateway) -> None:
    """Every test starts from a quiet pool: no scripts, an empty upstream log, no bindings,
    no cooldowns (a test that rate-limits every account must not bench them for the next)."""
    sim.reset()
    gateway.clear_bindings()
    gateway.clear_cooldowns()


# ---------------------------------------------------------------------------------------
# SDK clients, as a user would build them, plus a recorder of the HTTP exchanges


@dataclass
class Exchange:
    method: str
    url: str
    sent_at: float
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    received_at: float | None = None


class Recorder:
    """httpx event hooks: every request the SDK sends and the head of every answer (status,
    headers, time), in order. Lets a test read rota's headers on any SDK call (stream
    helpers included) and see the SDK's own retries."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def on_request(self, request: Any) -> None:
        self.exchanges.append(Exchange(request.method, str(request.url), time.monotonic()))

    def on_response(self, response: Any) -> None:
        ex = self.exchanges[-1]
        ex.status = response.status_code
        ex.headers = {k.lower(): v for k, v in response.headers.items()}
        ex.received_at = time.monotonic()

    @property
    def hooks(self) -> dict[str, list[Callable[[Any], None]]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    @property
    def last(self) -> Exchange:
        assert self.exchanges, "the SDK sent no request"
        return self.exchanges[-1]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def openai_client(gateway: Gateway, *, api_key: str = CLIENT_KEY, max_retries: int = 0,
                  recorder: Recorder | None = None) -> openai.OpenAI:
    http_client = openai.DefaultHttpxClient(event_hooks=recorder.hooks) if recorder else None
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=api_key, max_retries=max_retries,
                         timeout=SDK_TIMEOUT, http_client=http_client)


def anthropic_client(gateway: Gateway, *, api_key: str = CLIENT_KEY, max_retries: int = 0,
                     recorder: Recorder | None = None) -> anthropic.Anthropic:
    http_client = anthropic.DefaultHttpxClient(event_hooks=recorder.hooks) if recorder else None
    return anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=max_retries,
                               timeout=SDK_TIMEOUT, http_client=http_client)


def genai_client(gateway: Gateway, *, api_version: str | None = None, api_key: str = CLIENT_KEY,
                 recorder: Recorder | None = None) -> genai.Client:
    """`api_version=None` keeps the SDK's default. The SDK retries nothing by default."""
    options: dict[str, Any] = {"base_url": gateway.url, "timeout": int(SDK_TIMEOUT * 1000)}
    if api_version:
        options["api_version"] = api_version
    if recorder:
        options["client_args"] = {"event_hooks": recorder.hooks}
    return genai.Client(api_key=api_key, http_options=genai_types.HttpOptions(**options))


# ---------------------------------------------------------------------------------------
# Small helpers


def marker() -> str:
    """A unique word, so each test's conversations are new to the gateway and the sim."""
    return uuid.uuid4().hex[:12]


def rota_headers(headers: Any) -> dict[str, str]:
    """rota's headers (and the sim's account id) out of any header mapping."""
    wanted = ("x-account-email", "x-rota-attempts", "x-rota-decision", "x-mapped-model", "x-sim-account",
              "retry-after", "retry-after-ms")
    lower = {k.lower(): v for k, v in dict(headers).items()}
    return {k: lower[k] for k in wanted if k in lower}


def status_error_text(err: BaseException) -> str:
    """`HTTP <status>: <body>` of an SDK status error (any of the three SDKs), for messages."""
    status = getattr(err, "status_code", None) or getattr(err, "code", None)
    body = getattr(err, "body", None) or getattr(err, "details", None)
    response = getattr(err, "response", None)
    headers = rota_headers(getattr(response, "headers", {}) or {})
    return f"HTTP {status}: {str(body)[:400]} (rota headers: {headers})"


SDK_STATUS_ERRORS = (openai.APIStatusError, anthropic.APIStatusError, genai_errors.APIError)


def expect_ok(what: str, call: Callable[[], Any]) -> Any:
    """Runs an SDK call that must succeed; a status error fails the test with what rota answered."""
    try:
        return call()
    except SDK_STATUS_ERRORS as err:
        failure = f"{what}: the SDK raised {type(err).__name__}, {status_error_text(err)}"
    pytest.fail(failure, pytrace=False)


def assert_served_by_pool(headers: Any, what: str, *, has_model: bool = True) -> str:
    """The answer carries rota's account headers (X-Mapped-Model when the request names a
    model); returns the serving account's email."""
    h = rota_headers(headers)
    assert h.get("x-account-email") in EMAILS, f"{what}: no X-Account-Email of the pool in {h}"
    assert h.get("x-rota-attempts", "").isdigit(), f"{what}: no X-Rota-Attempts in {h}"
    assert h.get("x-rota-decision") in {"fixed", "sticky", "window", "rotation", "grace"}, \
        f"{what}: no valid X-Rota-Decision in {h}"
    if has_model:
        assert "x-mapped-model" in h, f"{what}: no X-Mapped-Model in {h}"
    return h["x-account-email"]


def assert_upstream_credential(sim: Sim, email: str, path_part: str, header: str) -> None:
    """The upstream received the request on `path_part` with `email`'s key in `header`
    (`authorization`, `x-api-key` or `x-goog-api-key`) and nothing of the client's key."""
    seen = [r for r in sim.requests() if path_part in r["path"]]
    assert seen, f"the upstream never received a request on {path_part!r}"
    last = seen[-1]
    key = KEY_OF[email]
    expected = f"Bearer {key}" if header == "authorization" else key
    assert last["headers"].get(header) == expected, \
        f"upstream {last['method']} {last['path']}: expected {header}={expected!r}, got headers {last['headers']}"
    leaked = [k for k, v in last["headers"].items() if CLIENT_KEY in v]
    assert not leaked, f"the client's key reached the upstream in {leaked}"


@dataclass
class Limited:
    """One SDK call answered 429: its headers and body, and whether it reached the upstream."""

    headers: dict[str, str]
    body: Any
    reached_upstream: bool


def limit_past_the_gateways_attempts(sim: Sim, owner: str, *, delay: float) -> None:
    """Every account answers its next request 429 (retry in `delay` s), the conversation's
    `owner` its next two: the gateway's attempts (grace retry on the owner included) all meet
    a 429, so the 429 reaches the SDK."""
    for email, _, key in ACCOUNTS:
        sim.rate_limit(key, times=2 if email == owner else 1, delay=delay)


def limit_every_account_and_call(sim: Sim, call: Callable[[int], Any], error: type[BaseException]) -> list[Limited]:
    """Rate-limits every account (429, retry in 30 s) and makes calls until one is answered
    by rota itself ("all limited", no upstream request). Each call must raise `error` (the
    SDK's own class for a 429)."""
    for _, _, key in ACCOUNTS:
        sim.rate_limit(key, times=3, delay=30)
    answers = []
    for n in range(len(ACCOUNTS) + 1):
        before = len(sim.requests())
        with pytest.raises(error) as raised:
            call(n)
        err = raised.value
        answers.append(Limited({k.lower(): v for k, v in err.response.headers.items()},
                               getattr(err, "body", None) or getattr(err, "details", None),
                               len(sim.requests()) > before))
        if not answers[-1].reached_upstream:
            break
    return answers


def retry_after_problems(answers: list[Limited], *, want_ms: bool) -> list[str]:
    """What is wrong with the headers of these 429s (SPEC §6), one line each."""
    problems = []
    for n, a in enumerate(answers):
        who = "rota's own 429" if not a.reached_upstream else "the upstream's 429 passed on"
        ra = a.headers.get("retry-after", "")
        if not (ra.isdigit() and 1 <= int(ra) <= 30):
            problems.append(f"call {n} ({who}): Retry-After is {ra or 'missing'}, expected 1..30 s")
        if want_ms and not a.headers.get("retry-after-ms", "").isdigit():
            problems.append(f"call {n} ({who}): no retry-after-ms")
    if answers[-1].reached_upstream:
        problems.append("rota never answered 'all limited' itself: every call reached the upstream")
    elif not answers[-1].headers.get("x-rota-attempts", "").isdigit():
        problems.append("rota's own 429 has no X-Rota-Attempts (SPEC §6)")
    return problems

