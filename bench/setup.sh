# Shared by bench/load.sh and bench/instructions.sh (sourced, not run): installs wrk, builds the
# release binaries, makes $tmp (removed on exit with every process in $pids), writes the
# gateway's config (four API-key accounts, client auth on) and wrk's request script, and
# defines wait_port. Expects UP, BARE and GW (host:port) to be set.

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
# shellcheck disable=SC2086 # GW_CARGO_FLAGS is a list of flags
cargo build --release -q -p rota-bench -p rota-gateway ${GW_CARGO_FLAGS:-}
bin=target/release

tmp=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

cat > "$tmp/gateway.toml" <<EOF
listen = "$GW"
${GW_WORKERS:+workers = $GW_WORKERS}
state_dir = "$tmp/state"

[auth]
api_keys = ["sk-bench"]

[upstream]
base_url = "http://$UP"

[[accounts]]
email = "a@bench"
tier = "ULTRA"
api_key = "key-a"

[[accounts]]
email = "b@bench"
tier = "PRO"
api_key = "key-b"

[[accounts]]
email = "c@bench"
tier = "PRO"
api_key = "key-c"

[[accounts]]
email = "d@bench"
tier = "FREE"
api_key = "key-d"
EOF

cat > "$tmp/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "sk-bench"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Refactor this function so it no longer clones the pool on every request."},{"role":"assistant","content":"Sure."},{"role":"user","content":"Now add a test."}]}'
EOF

wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return; sleep 0.1; done; echo "no listener on $1" >&2; exit 1; }
