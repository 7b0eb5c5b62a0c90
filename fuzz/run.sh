#!/usr/bin/env bash
# Runs every fuzz target for a fixed time with its corpus kept in
# fuzz/corpus/<target> (committed), and prints each target's executions,
# coverage and crashes. Not part of CI (long runs are scripts, not CI).
#
#   bash fuzz/run.sh            # 60 s per target
#   SECONDS_PER_TARGET=600 bash fuzz/run.sh jws session_csrf
#
# cargo-fuzz drives libFuzzer and passes nightly flags; on this stable
# toolchain RUSTC_BOOTSTRAP=1 lets them through, and `-s none` (no
# sanitizer: the code is safe Rust, the targets look for panics, 5xx and
# disagreements between the async and the blocking path) needs no
# sanitizer runtime.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
secs="${SECONDS_PER_TARGET:-60}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build -s none "${targets[@]/#/}" >/dev/null 2>&1 || cargo fuzz build -s none
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/last-run.log"
    if cargo fuzz run -s none "$t" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 >"$log" 2>&1; then
        result="0 crashes"
    else
        result="FAILED (see fuzz/$log and fuzz/artifacts/$t/)"
        status=1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    corpus=$(find "corpus/$t" -type f | wc -l)
    printf '%-14s %10s execs  cov %6s  corpus %5s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "$corpus" "$result"
done
exit $status
