#!/usr/bin/env bash
# HTTP load benchmark of the conformance example (release build), on loopback.
#
#   bash bench/load.sh                 # routes, blacklist backends, stores, then a 60 s memory run
#   DURATION=5s ROUNDS=2 bash bench/load.sh routes
#
# Phases (arguments select them; default: routes blacklist stores soak):
#   routes     JWT, Token, Session, the 401 path and the anonymous baseline,
#              in interleaved rounds, a fresh server per run: requests/s,
#              p50, p99, the server's peak memory (VmHWM), ratios to baseline.
#   blacklist  the JWT route with the blacklist off, memory, Redis, SQLite and
#              PostgreSQL, interleaved: ratios to "off". Redis and PostgreSQL
#              come from RESTFLOW_TEST_REDIS_URL / RESTFLOW_TEST_DATABASE_URL.
#   stores     the Token and Session routes with users, tokens and sessions
#              (--store) in memory, SQLite and PostgreSQL, interleaved:
#              ratios to memory (each process caches the SQL stores' rows,
#              invalidated by their feed: restflow_auth::invalidation).
#   instances  (not in the default set) two servers on one PostgreSQL
#              schema (--store and --blacklist): the Session route under
#              wrk on B, alone and while bench/instances.py logs in and out
#              on A and times how long B takes to refuse each ended
#              session (p50, p99, max; none accepted after a refusal).
#   soak       one server for SOAK seconds (default 60) of JWT obtain+call
#              traffic and session logins: VmRSS sampled every 10 s.
#   flood      (not in the default set) bursts of 512 concurrent
#              wrong-password Basic requests (bench/burst.py, one a second)
#              while a steady JWT load runs: the server's RSS (idle, peak
#              sampled every 100 ms, after), the bursts' answers and socket
#              errors, and the JWT p99 without and during the bursts.
#   instructions (not in the default set; needs valgrind, installed if
#              missing) each route's user-space instructions per request
#              under callgrind, restflow-auth's and the hand-written
#              server's, one request at a time on one keep-alive
#              connection: deterministic where req/s and CPU time are not.
#   profile    (not in the default set; needs perf) each route under load
#              with `perf record -e cpu-clock`: the share of the server's CPU
#              samples spent in restflow-auth and its crypto. Steadier than
#              req/s on a shared machine: the rest of a request (kernel,
#              hyper, axum) is the same on every route.
#
# The machine is shared and noisy: compare ratios within one run, not
# absolute numbers between runs. wrk (Debian's package) is installed if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
SOAK=${SOAK:-60}
PHASES=${*:-routes blacklist stores soak}
FIXTURES=${FIXTURES:-../shared/conformance/fixtures.json}
REDIS_URL=${RESTFLOW_TEST_REDIS_URL:-redis://127.0.0.1:6379}
PG_URL=${RESTFLOW_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

if ! command -v wrk >/dev/null; then
    apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }
[ -f "$FIXTURES" ] || { echo "fixtures not found: $FIXTURES" >&2; exit 1; }

cargo build --release --example conformance --example handwritten >&2
BIN=target/release/examples/conformance
HW_BIN=target/release/examples/handwritten
# On two or more CPUs the server runs on one (SERVER_CPU, default 0) and wrk
# on another (LOAD_CPU, default 1), so they do not compete; PIN= turns it off.
PIN=${PIN-1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PIN_SERVER=""
PIN_LOAD=""
if [ -n "$PIN" ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_SERVER="taskset -c $SERVER_CPU"
    PIN_LOAD="taskset -c $LOAD_CPU"
else
    PIN=""
fi
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

SERVER_PID=""
ADDR=""
# start_server [--blacklist X]: a fresh server on a free port.
start_server() {
    $PIN_SERVER "$BIN" --fixtures "$FIXTURES" --addr 127.0.0.1:0 "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    wait_listening
}
wait_listening() {
    for _ in $(seq 1 200); do
        ADDR=$(sed -n 's#^listening on http://##p' "$WORK/server.out")
        [ -n "$ADDR" ] && return 0
        sleep 0.05
    done
    echo "the server did not start: $(cat "$WORK/server.err")" >&2
    exit 1
}
stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
# start_handwritten: the hand-written baseline server (examples/handwritten).
start_handwritten() {
    $PIN_SERVER "$HW_BIN" --fixtures "$FIXTURES" --addr 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    wait_listening
}
hwm_kib() { awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }
# The server's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICKS=$(getconf CLK_TCK)
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status"; }

access_token() {
    curl -s -X POST "http://$ADDR/api/auth/token/" -H 'Content-Type: application/json' \
        -d '{"username":"alice","password":"alice-password-1"}' | sed 's/.*"access":"\([^"]*\)".*/\1/'
}
session_cookie() {
    curl -s -D - -o /dev/null -X POST "http://$ADDR/api/auth/session/login/" -H 'Content-Type: application/json' \
        -d '{"username":"alice","password":"alice-password-1"}' | sed -n 's/^[Ss]et-[Cc]ookie: \(sessionid=[^;]*\).*/\1/p'
}

# to_ms VALUE: wrk prints 812.00us, 1.23ms or 1.01s.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}

# run_wrk NAME PATH [HEADER]: appends "NAME rps p50 p99 hwm status-ok" to $WORK/results.
run_wrk() {
    local name=$1 path=$2 header=${3:-}
    local args=(-t1 -c"$CONNECTIONS" -d"$DURATION" --latency)
    [ -n "$header" ] && args+=(-H "$header")
    # The answer's status, once, so a route that fails is not timed as fast.
    local status
    if [ -n "$header" ]; then
        status=$(curl -s -o /dev/null -w '%{http_code}' -H "$header" "http://$ADDR$path")
    else
        status=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR$path")
    fi
    local out t0 t1
    t0=$(cpu_ticks)
    out=$($PIN_LOAD wrk "${args[@]}" "http://$ADDR$path")
    t1=$(cpu_ticks)
    local rps p50 p99 non2xx requests cpu_us
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    # Server CPU per request: steadier than req/s on a shared machine.
    cpu_us=$(awk -v d=$((t1 - t0)) -v n="$requests" -v hz="$TICKS" 'BEGIN {printf "%.2f", d / hz * 1e6 / n}')
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    echo "$name $rps $p50 $p99 $(hwm_kib) $status ${non2xx:-0} $cpu_us" >>"$WORK/results"
    printf '  %-10s %10s req/s  p50 %7s ms  p99 %7s ms  VmHWM %7s KiB  CPU %6s us/req  status %s\n' \
        "$name" "$rps" "$p50" "$p99" "$(hwm_kib)" "$cpu_us" "$status" >&2
}

# summarise BASELINE [FILE]: median of each name over the rounds, and ratios.
summarise() {
    local base=$1 file=${2:-$WORK/results}
    python3 - "$file" "$base" <<'PY'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    name, rps, p50, p99, hwm, status, non2xx, cpu = line.split()
    if name not in rows:
        rows[name] = []
        order.append(name)
    rows[name].append((float(rps), float(p50), float(p99), int(hwm), float(cpu), status))
med = {n: [statistics.median(v[i] for v in rows[n]) for i in range(5)] + [rows[n][0][5]] for n in order}
b = med[sys.argv[2]]
print("| route | status | req/s | p50 ms | p99 ms | VmHWM KiB | server CPU us/req | req/s ratio | CPU/req ratio | VmHWM ratio |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for n in order:
    m = med[n]
    print(f"| {n} | {m[5]} | {m[0]:.0f} | {m[1]:.3f} | {m[2]:.3f} | {m[3]:.0f} | {m[4]:.2f} | {m[0]/b[0]:.2f}x | {m[4]/b[4]:.2f}x | {m[3]/b[3]:.2f}x |")
print(f"\n(medians of {len(rows[order[0]])} interleaved rounds)")
PY
}

# pg_schema NAME: creates the schema NAME; prints $PG_URL with it as search_path.
pg_schema() {
    psql "$PG_URL" -q -c "CREATE SCHEMA IF NOT EXISTS $1" >/dev/null 2>&1 || true
    local sep='?'
    [[ "$PG_URL" == *\?* ]] && sep='&'
    echo "${PG_URL}${sep}options=-c%20search_path%3D$1"
}

phase_routes() {
    local conns=${ROUTE_CONNECTIONS:-32}
    local CONNECTIONS=$conns
    echo "== routes: $ROUNDS rounds x $DURATION, $conns connections, a fresh server per run${PIN:+, server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU}" >&2
    : >"$WORK/results"
    # restflow-auth's routes and the hand-written server's (hw-*: the same
    # lookups written by hand, examples/handwritten), interleaved; "plain"
    # is the server without authentication.
    local names=(plain anonymous jwt token session 401 hw-jwt hw-token hw-session hw-401)
    local n=${#names[@]}
    for round in $(seq 1 "$ROUNDS"); do
        echo " round $round" >&2
        # Rotate the order each round so no route always runs first.
        local k
        for k in $(seq 0 $((n - 1))); do
            local name=${names[$(((k + round) % n))]}
            local access cookie
            case $name in
                plain | hw-*)
                    start_handwritten
                    access=$(curl -s -X POST "http://$ADDR/jwt/obtain/" | sed 's/.*"access":"\([^"]*\)".*/\1/')
                    cookie=$(curl -s -D - -o /dev/null -X POST "http://$ADDR/session/login/" |
                        sed -n 's/^[Ss]et-[Cc]ookie: \(sessionid=[^;]*\).*/\1/p')
                    ;;
                *)
                    start_server --blacklist memory
                    # The same setup for every route: a JWT pair and a session
                    # login (each checks a password with argon2id, which holds
                    # ~19 MiB while it runs), so VmHWM compares the serving.
                    access=$(access_token)
                    cookie=$(session_cookie)
                    ;;
            esac
            case $name in
                plain) run_wrk plain /plain/ ;;
                anonymous) run_wrk anonymous /api/whoami/open/ ;;
                jwt) run_wrk jwt /api/whoami/jwt/ "Authorization: Bearer $access" ;;
                token) run_wrk token /api/whoami/token/ "Authorization: Token a11ce0000000000000000000000000000000a11c" ;;
                session) run_wrk session /api/whoami/session/ "Cookie: $cookie" ;;
                401) run_wrk 401 /api/whoami/jwt/ ;;
                hw-jwt) run_wrk hw-jwt /jwt/ "Authorization: Bearer $access" ;;
                hw-token) run_wrk hw-token /token/ "Authorization: Token a11ce0000000000000000000000000000000a11c" ;;
                hw-session) run_wrk hw-session /session/ "Cookie: $cookie" ;;
                hw-401) run_wrk hw-401 /jwt/ ;;
            esac
            stop_server
        done
    done
    echo
    echo "### Routes (conformance example, release, --store memory --blacklist memory; hw-*: examples/handwritten)"
    echo
    summarise plain
    echo
    echo "### restflow-auth against the hand-written extractor doing the same lookup"
    echo
    python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append((float(f[1]), float(f[7])))
def med(n, i):
    return statistics.median(r[i] for r in rows[n])
print("| route | req/s ratio to plain | hand-written's | server CPU us/req | hand-written's | difference us/req |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for n in ("jwt", "token", "session", "401"):
    h = "hw-" + n
    if n in rows and h in rows:
        print(f"| {n} | {med(n, 0) / med('plain', 0):.2f}x | {med(h, 0) / med('plain', 0):.2f}x "
              f"| {med(n, 1):.2f} | {med(h, 1):.2f} | {med(n, 1) - med(h, 1):+.2f} |")
PY
}

phase_blacklist() {
    echo "== blacklist backends: the JWT route, $ROUNDS rounds x $DURATION" >&2
    : >"$WORK/results"
    local schema="restflow_bench_$$" pg
    pg=$(pg_schema "$schema")
    local names=(off memory redis sqlite postgres)
    for round in $(seq 1 "$ROUNDS"); do
        echo " round $round" >&2
        local k
        for k in $(seq 0 4); do
            local name=${names[$(((k + round) % 5))]}
            case $name in
                off) start_server --blacklist off ;;
                memory) start_server --blacklist memory ;;
                redis) start_server --blacklist "$REDIS_URL" ;;
                sqlite) start_server --blacklist "sqlite:$WORK/blacklist.db" ;;
                postgres) start_server --blacklist "$pg" ;;
            esac
            run_wrk "$name" /api/whoami/jwt/ "Authorization: Bearer $(access_token)"
            stop_server
        done
    done
    psql "$PG_URL" -q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    redis-cli -u "$REDIS_URL" --scan --pattern 'restflow:conformance:*' 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
    echo
    echo "### JWT route per blacklist backend (ratio to the blacklist off)"
    echo
    summarise off
}

phase_stores() {
    echo "== stores: the Token and Session routes per --store, $ROUNDS rounds x $DURATION" >&2
    local schema="restflow_bench_stores_$$" pg
    pg=$(pg_schema "$schema")
    : >"$WORK/results.token"
    : >"$WORK/results.session"
    local names=(memory sqlite postgres)
    for round in $(seq 1 "$ROUNDS"); do
        echo " round $round" >&2
        local k
        for k in $(seq 0 2); do
            local name=${names[$(((k + round) % 3))]}
            case $name in
                memory) start_server --store memory --blacklist memory ;;
                sqlite) start_server --store "sqlite:$WORK/stores.db" --blacklist memory ;;
                postgres) start_server --store "$pg" --blacklist memory ;;
            esac
            local cookie
            cookie=$(session_cookie)
            : >"$WORK/results"
            run_wrk "$name" /api/whoami/token/ "Authorization: Token a11ce0000000000000000000000000000000a11c"
            cat "$WORK/results" >>"$WORK/results.token"
            : >"$WORK/results"
            run_wrk "$name" /api/whoami/session/ "Cookie: $cookie"
            cat "$WORK/results" >>"$WORK/results.session"
            stop_server
        done
    done
    psql "$PG_URL" -q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    echo
    echo "### Token route per --store (ratio to memory)"
    echo
    summarise memory "$WORK/results.token"
    echo
    echo "### Session route per --store (ratio to memory)"
    echo
    summarise memory "$WORK/results.session"
}

phase_instances() {
    echo "== instances: two servers on one PostgreSQL, revocations on A while B serves" >&2
    local schema="restflow_bench_instances_$$" pg
    pg=$(pg_schema "$schema")
    start_server --store "$pg" --blacklist "$pg"
    local a_pid=$SERVER_PID a_addr=$ADDR
    start_server --store "$pg" --blacklist "$pg"
    local b_addr=$ADDR
    ADDR=$a_addr
    local cookie
    cookie=$(session_cookie)
    ADDR=$b_addr
    : >"$WORK/results"
    run_wrk B-alone /api/whoami/session/ "Cookie: $cookie"
    python3 bench/instances.py "$a_addr" "$b_addr" "${INSTANCE_ROUNDS:-200}" >"$WORK/instances.txt" &
    local revoker=$!
    run_wrk B-revoking /api/whoami/session/ "Cookie: $cookie"
    wait "$revoker"
    stop_server
    kill "$a_pid" 2>/dev/null || true
    wait "$a_pid" 2>/dev/null || true
    psql "$PG_URL" -q -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    echo
    echo "### Two instances on one PostgreSQL: the Session route on B (ratio to B alone)"
    echo
    summarise B-alone
    echo
    echo "Revocations made on A during the second run: $(cat "$WORK/instances.txt")"
}

phase_soak() {
    echo "== soak: ${SOAK}s of logins, JWT pairs, refreshes and session logins on one server" >&2
    start_server --blacklist memory
    local token
    token=$(access_token)
    wrk -t1 -c16 -d"${SOAK}s" -H "Authorization: Bearer $token" "http://$ADDR/api/whoami/jwt/" >/dev/null &
    local wrk_pid=$!
    local samples=()
    local t0=$SECONDS
    while kill -0 "$wrk_pid" 2>/dev/null; do
        # Churn: sessions begin and end, refresh tokens rotate (blacklist entries).
        for _ in $(seq 1 20); do
            session_cookie >/dev/null
            local refresh
            refresh=$(curl -s -X POST "http://$ADDR/api/auth/token/" -H 'Content-Type: application/json' \
                -d '{"username":"alice","password":"alice-password-1"}' | sed 's/.*"refresh":"\([^"]*\)".*/\1/')
            curl -s -o /dev/null -X POST "http://$ADDR/api/auth/token/refresh/" -H 'Content-Type: application/json' \
                -d "{\"refresh\":\"$refresh\"}"
        done
        if (((SECONDS - t0) % 10 == 0)) || [ ${#samples[@]} -eq 0 ]; then
            samples+=("$((SECONDS - t0))s:$(rss_kib)")
        fi
        sleep 1
    done
    samples+=("end:$(rss_kib)")
    echo
    echo "### Memory over ${SOAK} s (VmRSS KiB; VmHWM $(hwm_kib) KiB)"
    echo
    echo "${samples[*]}"
    stop_server
}

phase_profile() {
    command -v perf >/dev/null || { echo "perf is not installed (Debian: linux-perf)" >&2; return 1; }
    echo "== profile: the library's share of server CPU per route" >&2
    echo
    echo "### Share of the server's CPU samples in restflow-auth and its crypto (perf cpu-clock)"
    echo
    echo "| route | share | implied req/s vs plain (no authentication) |"
    echo "| --- | ---: | ---: |"
    local base=""
    local name
    for name in plain jwt token session 401; do
        start_server --blacklist memory
        local access cookie header path
        access=$(access_token)
        cookie=$(session_cookie)
        case $name in
            plain) header="X-Nothing: 1"; path=/api/plain/ ;;
            jwt) header="Authorization: Bearer $access"; path=/api/whoami/jwt/ ;;
            token) header="Authorization: Token a11ce0000000000000000000000000000000a11c"; path=/api/whoami/token/ ;;
            session) header="Cookie: $cookie"; path=/api/whoami/session/ ;;
            401) header="X-Nothing: 1"; path=/api/whoami/jwt/ ;;
        esac
        perf record -q -e cpu-clock -F 2000 -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep 6 >/dev/null 2>&1 &
        local perf_pid=$!
        sleep 0.5
        $PIN_LOAD wrk -t1 -c"$CONNECTIONS" -d5s -H "$header" "http://$ADDR$path" >/dev/null
        wait "$perf_pid" || true
        stop_server
        local share
        share=$(perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null |
            awk '!/^#/ && /%/ && /restflow_auth|sha2::|hmac|md5|base64/ {s += $1} END {printf "%.2f", s}')
        [ -n "$base" ] || base=$share
        # Same cost outside the library: ratio = (1 - share) / (1 - baseline share).
        awk -v n="$name" -v s="$share" -v b="$base" 'BEGIN {printf "| %s | %.2f%% | %.3fx |\n", n, s, (100 - s) / (100 - b)}'
    done
}

phase_flood() {
    local secs=${FLOOD_SECONDS:-10}
    echo "== flood: 512 concurrent wrong-password Basic requests during a JWT load (${secs}s)" >&2
    start_server
    local token basic
    token=$(access_token)
    basic="Authorization: Basic $(printf 'alice:wrong-password' | base64)"
    # Warm the password workers once, then let them go idle and give their memory back.
    curl -s -o /dev/null -H "$basic" "http://$ADDR/api/whoami/basic/"
    sleep 3
    local idle peak after
    idle=$(rss_kib)
    wrk -t1 -c16 -d"${secs}s" --latency -H "Authorization: Bearer $token" "http://$ADDR/api/whoami/jwt/" >"$WORK/jwt-alone.txt"
    ( peak=0; while kill -0 "$SERVER_PID" 2>/dev/null && [ ! -f "$WORK/flood-done" ]; do
          r=$(rss_kib); [ "$r" -gt "$peak" ] && peak=$r; echo "$peak" >"$WORK/peak"; sleep 0.1
      done ) &
    local sampler=$!
    python3 bench/burst.py "$ADDR" /api/whoami/basic/ "$basic" 512 "$secs" 1 >"$WORK/flood.txt" &
    local flood=$!
    sleep 1
    wrk -t1 -c16 -d"$((secs - 2))s" --latency -H "Authorization: Bearer $token" "http://$ADDR/api/whoami/jwt/" >"$WORK/jwt-flood.txt"
    wait "$flood"
    touch "$WORK/flood-done"; wait "$sampler" 2>/dev/null || true
    peak=$(cat "$WORK/peak")
    sleep 3
    after=$(rss_kib)
    local p99_alone p99_flood
    p99_alone=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/jwt-alone.txt")")
    p99_flood=$(to_ms "$(awk '$1 == "99%" {print $2}' "$WORK/jwt-flood.txt")")
    local answers errors
    answers=$(cat "$WORK/flood.txt")
    errors="512 at once, every second"
    local statuses
    statuses=$(curl -s -o /dev/null -w '%{http_code}' -H "$basic" "http://$ADDR/api/whoami/basic/")
    stop_server
    python3 - "$idle" "$peak" "$after" "$p99_alone" "$p99_flood" "$answers" "$errors" <<'PY'
import sys
idle, peak, after = (int(x) / 1024 for x in sys.argv[1:4])
alone, flood = float(sys.argv[4]), float(sys.argv[5])
print(f"| RSS idle | {idle:.1f} MiB |")
print(f"| RSS peak during the flood | {peak:.1f} MiB (+{peak - idle:.1f} MiB) |")
print(f"| RSS 3 s after | {after:.1f} MiB (+{after - idle:.1f} MiB) |")
print(f"| bursts ({sys.argv[7]}) | {sys.argv[6]} |")
print(f"| JWT p99 alone / during the flood | {alone:.2f} ms / {flood:.2f} ms = {flood / alone:.2f}x |")
PY
}

# count_instructions KIND PATH HEADER: the server's user-space
# instructions per request under callgrind (KIND rf: the conformance
# example; hw: examples/handwritten), over one keep-alive connection after
# a warm-up. HEADER JWT or SESSION: a fresh access token or session cookie.
count_instructions() {
    local kind=$1 path=$2 header=$3 n=${INSTRUCTION_REQUESTS:-2000}
    local bin=$BIN args=(--blacklist memory) out="$WORK/cg"
    [ "$kind" = hw ] && { bin=$HW_BIN; args=(); }
    rm -f "$out".*
    valgrind --tool=callgrind --callgrind-out-file="$out.%p" "$bin" --fixtures "$FIXTURES" \
        --addr 127.0.0.1:0 "${args[@]}" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        ADDR=$(sed -n 's#^listening on http://##p' "$WORK/server.out")
        [ -n "$ADDR" ] && break
        sleep 0.1
    done
    [ -n "$ADDR" ] || { echo "the server did not start under valgrind: $(cat "$WORK/server.err")" >&2; exit 1; }
    case $header in
        JWT)
            if [ "$kind" = hw ]; then
                header="Authorization: Bearer $(curl -s -X POST "http://$ADDR/jwt/obtain/" | sed 's/.*"access":"\([^"]*\)".*/\1/')"
            else
                header="Authorization: Bearer $(access_token)"
            fi ;;
        SESSION)
            if [ "$kind" = hw ]; then
                header="Cookie: $(curl -s -D - -o /dev/null -X POST "http://$ADDR/session/login/" |
                    sed -n 's/^[Ss]et-[Cc]ookie: \(sessionid=[^;]*\).*/\1/p')"
            else
                header="Cookie: $(session_cookie)"
            fi ;;
    esac
    local host=${ADDR%:*} port=${ADDR##*:}
    python3 bench/keepalive.py "$host" "$port" "$path" "$header" 300 >/dev/null
    callgrind_control -z "$SERVER_PID" >/dev/null 2>&1
    local statuses
    statuses=$(python3 bench/keepalive.py "$host" "$port" "$path" "$header" "$n")
    callgrind_control -d "$SERVER_PID" >/dev/null 2>&1
    sleep 0.5
    stop_server
    local ir
    ir=$(callgrind_annotate "$(ls "$out".*.1 | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$((ir / n)) $statuses"
}

phase_instructions() {
    command -v valgrind >/dev/null ||
        apt-get install -y -q valgrind >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q valgrind >/dev/null; }
    echo "== instructions: the server's user-space instructions per request (callgrind)" >&2
    echo
    echo "### Instructions per request (callgrind, one keep-alive connection; hw: examples/handwritten)"
    echo
    echo "| route | restflow-auth | hand-written | difference | ratio |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    local token="Authorization: Token a11ce0000000000000000000000000000000a11c"
    local row name rf hw
    for row in "plain|/api/plain/|/plain/|X-None: 1" "jwt|/api/whoami/jwt/|/jwt/|JWT" \
        "token|/api/whoami/token/|/token/|$token" "session|/api/whoami/session/|/session/|SESSION" \
        "401|/api/whoami/jwt/|/jwt/|X-None: 1"; do
        IFS='|' read -r name rf_path hw_path header <<<"$row"
        rf=$(count_instructions rf "$rf_path" "$header")
        hw=$(count_instructions hw "$hw_path" "$header")
        echo "  $name: restflow ${rf} / hand-written ${hw}" >&2
        awk -v n="$name" -v a="${rf%% *}" -v b="${hw%% *}" \
            'BEGIN {printf "| %s | %d | %d | %+d | %.2fx |\n", n, a, b, a - b, a / b}'
    done
    echo
    echo "(valgrind runs without SHA extensions: SHA-256, which the Token route's"
    echo "digest lookup runs, costs several times what it costs on the CPU.)"
}

for phase in $PHASES; do
    "phase_$phase"
done
