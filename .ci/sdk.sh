#!/usr/bin/env bash
# The official-SDK compatibility suite (tests/sdk): the pinned openai, anthropic and
# google-genai Python SDKs against the real rota-gateway binary over rota-sim.
#
#   bash .ci/sdk.sh                 # everything
#   bash .ci/sdk.sh -k anthropic    # extra arguments go to pytest
#
# Respects CARGO_TARGET_DIR. The venv lives in <target>/sdk-venv (SDK_VENV overrides it),
# the processes' logs in <target>/sdk-suite. Needs python3 (3.9+) with venv, and PyPI.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
python=${PYTHON:-python3}

target=$(cargo metadata --format-version 1 --no-deps \
  | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
venv=${SDK_VENV:-$target/sdk-venv}
requirements=tests/sdk/requirements.txt

if [ ! -x "$venv/bin/python" ]; then
  echo "sdk.sh: creating $venv"
  "$python" -m venv "$venv"
fi
# Reinstall only when the pins changed since the last install into this venv.
if ! cmp -s "$requirements" "$venv/.sdk-requirements"; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.sdk-requirements"
fi

cargo build -p rota-gateway --bin rota-gateway
cargo build -p rota-sim --example serve
export ROTA_GATEWAY_BIN="$target/debug/rota-gateway"
export ROTA_SIM_BIN="$target/debug/examples/serve"

echo "sdk.sh: $("$venv/bin/python" -m pip freeze --disable-pip-version-check \
  | grep -Ei '^(openai|anthropic|google-genai|httpx2?|pytest)==' | tr '\n' ' ')"
# The suite takes well under a minute; the timeout only guards against a hang.
status=0
timeout --kill-after=10 600 "$venv/bin/python" -m pytest tests/sdk --basetemp "$target/sdk-suite" "$@" \
  || status=$?
echo "sdk.sh: gateway and sim logs under $target/sdk-suite"
exit "$status"
