#!/usr/bin/env bash
# Instructions per request, bare proxy vs rota-gateway (issue: performance bar). Each runs under
# valgrind's callgrind while wrk drives the same load at it as bench/load.sh does; the counters are
# zeroed after a warm-up, dumped after the measured run, and divided by the requests served.
# Instruction counts do not move with whatever else the machine is doing, so this is the
# noise-free companion of load.sh's req/s (callgrind slows both sides alike; only the counts
# matter here, not the rates).
#
#   bench/instructions.sh                  # 1 connection, 10 s per side
#   CONNS=16 DURATION=5s bench/instructions.sh
#   GW_BIN=/tmp/old/rota-gateway bench/instructions.sh   # another gateway build (e.g. an older commit's)
#
# valgrind hides the CPU's SHA extensions, so the gateway's SHA-256 of the first user message
# runs in software here: about 7 000 of the gateway's instructions, ~130 ns natively with SHA-NI.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNS=${CONNS:-1}
DURATION=${DURATION:-10s}
UP=127.0.0.1:19010 BARE=127.0.0.1:19011 GW=127.0.0.1:19012

command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
# shellcheck source=bench/setup.sh
source bench/setup.sh

"$bin/fast-upstream" --listen "$UP" & pids+=($!)
valgrind --tool=callgrind --callgrind-out-file="$tmp/bare.out" \
  "$bin/bare-proxy" --listen "$BARE" --upstream "http://$UP" 2>"$tmp/bare.vg" & pids+=($!)
bare_pid=$!
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$tmp/gw.out" \
  "${GW_BIN:-$bin/rota-gateway}" --config "$tmp/gateway.toml" 2>"$tmp/gw.vg" & pids+=($!)
gw_pid=$!
for p in $UP $BARE $GW; do wait_port "$p"; done

measure() { # side addr pid → "side requests instructions per_request"
  wrk -t1 -c"$CONNS" -d3s -s "$tmp/post.lua" "http://$2/v1/messages" >/dev/null
  callgrind_control -z "$3" >/dev/null 2>&1
  local out n ir
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" -s "$tmp/post.lua" "http://$2/v1/messages")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  callgrind_control -d "$3" >/dev/null 2>&1
  for _ in $(seq 50); do [ -s "$tmp/$1.out.1" ] && break; sleep 0.1; done
  ir=$(callgrind_annotate "$tmp/$1.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$1 $n $ir $((ir / n))"
}

bare=$(measure bare "$BARE" "$bare_pid")
gw=$(measure gw "$GW" "$gw_pid")
printf '%-8s %10s %16s %16s\n' side requests instructions per_request
for line in "$bare" "$gw"; do
  read -r side n ir per <<<"$line"
  printf '%-8s %10d %16d %16d\n' "$side" "$n" "$ir" "$per"
done
awk -v b="${bare##* }" -v g="${gw##* }" \
  'BEGIN {printf "gateway - bare = %+d instructions per request (%.2fx)\n", g - b, g / b}'
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP" && cp "$tmp"/*.out.1 "$KEEP"/ && echo "callgrind profiles kept in $KEEP (callgrind_annotate FILE)"
fi
