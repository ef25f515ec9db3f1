#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time, one after another.
#
#   bash fuzz/run.sh                  # every target, 60 s each
#   FUZZ_SECONDS=300 bash fuzz/run.sh config state
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60; libFuzzer's -max_total_time)
#   FUZZ_SANITIZER   cargo fuzz sanitizer (default none: the workspace forbids unsafe code,
#                    so the checks that matter are panics and overflow checks, which -a keeps)
#   FUZZ_KEEP_GOING  1: fork mode with -ignore_crashes=1, to keep fuzzing past a known crash
#
# Seeds from fuzz/seeds/<target>/ are copied into the (git-ignored) corpus fuzz/corpus/<target>/
# and fuzz/dicts/<target>.dict is passed as a dictionary when present. Prints, per target,
# the executions and whether a crash was found (crash inputs land in fuzz/artifacts/<target>/,
# logs in fuzz/target/logs/). Exits 1 if any target crashed, 2 if the build failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
# cargo fuzz passes nightly-only flags; the stable toolchain accepts them with this.
export RUSTC_BOOTSTRAP=1
flags=(-O -a -s "$sanitizer")

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]}"
for target in "${targets[@]}"; do
    cargo fuzz build "${flags[@]}" "$target" || exit 2
done

mkdir -p fuzz/target/logs
failed=0
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    log=fuzz/target/logs/$target.log
    mkdir -p "$corpus" "$artifacts"
    if [ -d "fuzz/seeds/$target" ]; then
        cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null
    fi
    args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1)
    if [ -f "fuzz/dicts/$target.dict" ]; then
        args+=(-dict="fuzz/dicts/$target.dict")
    fi
    if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
        args+=(-fork=1 -ignore_crashes=1)
    fi
    before=$(find "$artifacts" -type f | wc -l)
    echo "== $target: ${seconds}s (log: $log)"
    cargo fuzz run "${flags[@]}" "$target" "$corpus" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    if [ -z "$execs" ]; then
        # Fork mode prints no final stats: take the last status line's count.
        execs=$(grep -o '^#[0-9]*' "$log" | tr -d '#' | tail -n 1)
    fi
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1
    fi
    if [ "$crashes" -gt 0 ]; then
        failed=1
        result="CRASH ($crashes new input(s) in $artifacts)"
        grep -m 3 -E "panicked at|^thread '.*' panicked|SUMMARY" "$log" | sed 's/^/    /'
    else
        result="no crash"
    fi
    line="$target: ${seconds}s, ${execs:-?} executions, $result"
    echo "   $line"
    summary+=("$line")
done

echo "== summary"
printf '   %s\n' "${summary[@]}"
exit "$failed"
