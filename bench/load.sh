#!/usr/bin/env bash
# Load harness (issue: performance bar). Starts a fast fake upstream, two bare pass-through
# proxies — `bare` on one multi-threaded tokio runtime (how most hyper servers run) and
# `bare_w` on worker threads (the gateway's own serving model, so the baseline is not
# handicapped by a model the gateway does not use) — and rota-gateway with four accounts,
# drives them interleaved (A B C A B C …) with wrk at 1 and 16 connections, and prints req/s,
# p50 and p99 for each, the CPU time the proxy process itself spent per request (cpu_us:
# utime+stime from /proc/PID/stat around each run, divided by wrk's request count — far less
# noisy than req/s on a small shared machine), and the gateway's ratios to each baseline:
# the median of the per-round ratios with their spread (min–max). Then a streaming run for
# time to first byte. Everything listens on 127.0.0.1 only; every run is bounded by DURATION.
#
#   bench/load.sh                  # 5 rounds of 10 s per side and connection count
#   ROUNDS=3 DURATION=5s bench/load.sh
#   CONNS=16 STREAM=0 bench/load.sh  # only 16 connections, no streaming run
#   GW_WORKERS=1 bench/load.sh       # the gateway with one worker thread (its `workers` setting)
#   GW_CARGO_FLAGS=--no-default-features bench/load.sh  # the gateway on the system allocator
#   GW_B=/tmp/old/rota-gateway bench/load.sh  # a second gateway build (e.g. an older commit's,
#                                   # built in a worktree) as a third side, "gw_b", same config
#   FLEET=1 bench/load.sh           # adds "fleet": two replicas (one worker thread each, so
#                                   # as many serving threads as gw) with [fleet] on one Redis
#                                   # (REDIS_URL, default the machine's), wrk's connections
#                                   # split over both; prints Redis commands per request
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
DURATION=${DURATION:-10s}
UP=127.0.0.1:19000 BARE=127.0.0.1:19001 GW=127.0.0.1:19002 BARE_W=127.0.0.1:19004

# shellcheck source=bench/setup.sh
source bench/setup.sh

"$bin/fast-upstream" --listen "$UP" & pids+=($!)
"$bin/bare-proxy" --listen "$BARE" --upstream "http://$UP" & pids+=($!)
bare_pid=$!
"$bin/bare-proxy" --listen "$BARE_W" --upstream "http://$UP" --workers "${GW_WORKERS:-$(nproc)}" & pids+=($!)
bare_w_pid=$!
env RUST_LOG=${RUST_LOG:-warn} "$bin/rota-gateway" --config "$tmp/gateway.toml" >"$tmp/gateway.log" 2>&1 & pids+=($!)
gw_pid=$!
sides="bare bare_w gw"
if [ -n "${GW_B:-}" ]; then
  GW2=127.0.0.1:19003
  sed "s/^listen = .*/listen = \"$GW2\"/; s|^state_dir = .*|state_dir = \"$tmp/state_b\"|" "$tmp/gateway.toml" > "$tmp/gateway_b.toml"
  env RUST_LOG=${RUST_LOG:-warn} "$GW_B" --config "$tmp/gateway_b.toml" >"$tmp/gateway_b.log" 2>&1 & pids+=($!)
  gw_b_pid=$!
  sides="bare bare_w gw gw_b"
fi

if [ "${FLEET:-0}" = 1 ]; then
  REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
  FL1=127.0.0.1:19005 FL2=127.0.0.1:19006
  redis_hostport=${REDIS_URL#redis://}; redis_hostport=${redis_hostport%%/*}
  rcli() { redis-cli -h "${redis_hostport%:*}" -p "${redis_hostport#*:}" "$@"; }
  fleet_pids=()
  for i in 1 2; do
    addr=$([ "$i" = 1 ] && echo "$FL1" || echo "$FL2")
    { sed "s/^listen = .*/listen = \"$addr\"/; s|^state_dir = .*|state_dir = \"$tmp/state_f$i\"\nworkers = 1|" "$tmp/gateway.toml"
      printf '\n[fleet]\nredis_url = "%s"\nkey_prefix = "bench-%s:"\n' "$REDIS_URL" "$$"; } > "$tmp/fleet$i.toml"
    env RUST_LOG=${RUST_LOG:-warn} "$bin/rota-gateway" --config "$tmp/fleet$i.toml" >"$tmp/fleet$i.log" 2>&1 & pids+=($!)
    fleet_pids+=($!)
  done
  sides="$sides fleet"
fi

for p in $UP $BARE $BARE_W $GW ${GW2:-} ${FL1:-} ${FL2:-}; do wait_port "$p"; done

# µs from wrk's "12.34us" / "1.23ms" / "1.00s"
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); print v} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000000}}'; }

# CPU time (utime + stime, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

run() { # name url conns pid → "rps p50_us p99_us cpu_us_per_request"
  local t0 t1; t0=$(cpu_ticks "$4")
  local out; out=$(wrk -t1 -c"$3" -d"$DURATION" -s "$tmp/post.lua" --latency "http://$2/v1/messages")
  t1=$(cpu_ticks "$4")
  local rps p50 p99 non2xx n cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(awk -v d=$((t1 - t0)) -v t="$TICK_US" -v n="$n" 'BEGIN {print (n > 0 ? d * t / n : 0)}')
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_us)
  p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_us)
  non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  if [ -n "$non2xx" ]; then echo "$1: $non2xx non-2xx answers — check $tmp/gateway.log" >&2; fi
  echo "$rps $p50 $p99 $cpu"
}

# The fleet side: wrk's connections split over both replicas (one connection: the first
# only), req/s summed, p50/p99 of the first, CPU of both processes.
run_fleet() { # conns → like run
  local t0 t1 c1 c2 out1 out2="" n n2=0 rps rps2=0 p50 p99 wpid=""
  t0=$(( $(cpu_ticks "${fleet_pids[0]}") + $(cpu_ticks "${fleet_pids[1]}") ))
  c1=$(( $1 > 1 ? $1 / 2 : 1 )); c2=$(( $1 - c1 ))
  if [ "$c2" -gt 0 ]; then
    wrk -t1 -c"$c2" -d"$DURATION" -s "$tmp/post.lua" "http://$FL2/v1/messages" > "$tmp/wrk2.out" &
    wpid=$!
  fi
  out1=$(wrk -t1 -c"$c1" -d"$DURATION" -s "$tmp/post.lua" --latency "http://$FL1/v1/messages")
  if [ -n "$wpid" ]; then
    wait "$wpid"
    out2=$(cat "$tmp/wrk2.out")
    n2=$(awk '/requests in/ {print $1}' <<<"$out2")
    rps2=$(awk '/Requests\/sec/ {print $2}' <<<"$out2")
  fi
  t1=$(( $(cpu_ticks "${fleet_pids[0]}") + $(cpu_ticks "${fleet_pids[1]}") ))
  n=$(( $(awk '/requests in/ {print $1}' <<<"$out1") + n2 ))
  rps=$(awk -v a="$(awk '/Requests\/sec/ {print $2}' <<<"$out1")" -v b="$rps2" 'BEGIN {print a + b}')
  p50=$(awk '$1=="50%" {print $2}' <<<"$out1" | to_us)
  p99=$(awk '$1=="99%" {print $2}' <<<"$out1" | to_us)
  echo "$n" >> "$tmp/fleet.requests"
  awk -v d=$((t1 - t0)) -v t="$TICK_US" -v n="$n" -v r="$rps" -v a="$p50" -v b="$p99" \
    'BEGIN {print r, a, b, (n > 0 ? d * t / n : 0)}'
}

# ratio SIDE BASE CONNS: SIDE against the baseline BASE — per round (each round's two runs
# follow each other), then the median of those ratios and their min–max; p50 and CPU per
# request as differences of medians.
ratio() {
  col() { cut -d' ' -f"$1" "$tmp/$2.$3" | median; }
  local per
  per=$(paste -d' ' "$tmp/$1.$3" "$tmp/$2.$3" | awk '{printf "%.3f\n", $1 / $5}')
  awk -v s="$1" -v base="$2" -v c="$3" -v m="$(median <<<"$per")" \
      -v lo="$(sort -g <<<"$per" | head -1)" -v hi="$(sort -g <<<"$per" | tail -1)" \
      -v bp="$(col 2 "$2" "$3")" -v gp="$(col 2 "$1" "$3")" -v bc="$(col 4 "$2" "$3")" -v gc="$(col 4 "$1" "$3")" \
      'BEGIN {printf "ratio    %-6s throughput %s/%s = %.3f (rounds %.3f–%.3f)   p50 %+.1f us   cpu %+.1f us/req\n", c, s, base, m, lo, hi, gp-bp, gc-bc}'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# warm-up (connection pools, page cache)
run bare $BARE 16 "$bare_pid" >/dev/null; run bare_w $BARE_W 16 "$bare_w_pid" >/dev/null
run gateway $GW 16 "$gw_pid" >/dev/null
if [ -n "${GW_B:-}" ]; then run gateway_b "$GW2" 16 "$gw_b_pid" >/dev/null; fi
if [ "${FLEET:-0}" = 1 ]; then
  run_fleet 16 >/dev/null
  : > "$tmp/fleet.requests"
  redis_calls() { rcli info commandstats | awk -F'[=,:]' '/^cmdstat_/ {s += $3} END {print s + 0}'; }
  calls_before=$(redis_calls)
fi

printf '%-8s %-6s %12s %10s %10s %10s\n' side conns req/s p50_us p99_us cpu_us
for conns in ${CONNS:-1 16}; do
  for side in $sides; do : > "$tmp/$side.$conns"; done
  for r in $(seq "$ROUNDS"); do
    run bare $BARE "$conns" "$bare_pid" >> "$tmp/bare.$conns"
    run bare_w $BARE_W "$conns" "$bare_w_pid" >> "$tmp/bare_w.$conns"
    run gateway $GW "$conns" "$gw_pid" >> "$tmp/gw.$conns"
    if [ -n "${GW_B:-}" ]; then run gateway_b "$GW2" "$conns" "$gw_b_pid" >> "$tmp/gw_b.$conns"; fi
    if [ "${FLEET:-0}" = 1 ]; then run_fleet "$conns" >> "$tmp/fleet.$conns"; fi
  done
  for side in $sides; do
    f="$tmp/$side.$conns"
    printf '%-8s %-6s %12.0f %10.1f %10.1f %10.1f\n' "$side" "$conns" \
      "$(cut -d' ' -f1 "$f" | median)" "$(cut -d' ' -f2 "$f" | median)" "$(cut -d' ' -f3 "$f" | median)" \
      "$(cut -d' ' -f4 "$f" | median)"
  done
  for side in ${sides#bare bare_w }; do
    ratio "$side" bare "$conns"
    ratio "$side" bare_w "$conns"
  done
  if [ "${FLEET:-0}" = 1 ]; then ratio fleet gw "$conns"; fi
done
if [ "${FLEET:-0}" = 1 ]; then
  calls=$(( $(redis_calls) - calls_before ))
  served=$(awk '{s += $1} END {print s + 0}' "$tmp/fleet.requests")
  awk -v c="$calls" -v n="$served" 'BEGIN {printf "fleet: %d Redis commands for %d requests = %.5f per request (INFO commandstats; other clients of the same Redis count too)\n", c, n, (n > 0 ? c / n : 0)}'
  rcli --scan --pattern "{bench-$$:}*" | xargs -r redis-cli -h "${redis_hostport%:*}" -p "${redis_hostport#*:}" del >/dev/null
fi

[ "${STREAM:-1}" = 0 ] && exit 0
echo "streaming (time to first byte, sequential):"
for r in $(seq 2); do
  printf 'bare    '; "$bin/ttfb" --url "http://$BARE/v1/messages" --n 1000
  printf 'gateway '; "$bin/ttfb" --url "http://$GW/v1/messages" --n 1000
done
