#!/usr/bin/env bash
# bench/bench_server.sh - `heliosdb serve` under load, beside nginx and nghttpd in the same run.
#
# Measures on 127.0.0.1 only (bench/README.md, section bench_server.sh):
#   start time (fresh database, then reopened with data) and RSS (idle, max under load);
#   REST point get by primary key (wrk -t1 -c64) beside nginx `return 200 "ok"`;
#   gRPC unary Execute point get (h2load -c16 -m32) beside nghttpd serving a 2-byte file;
#   each pair pinned (load tool on one CPU, server with one shard on another) and unpinned;
#   durable inserts (sync WAL) over REST (wrk -t1 -c16) and gRPC (h2load -c16 -m4).
# Then a table of req/s, p50, p99, the reference's req/s and the ratio, and the checks of the
# answers (non-200s, h2load failures, gRPC body sizes, rows inserted vs acknowledged).
#
# Environment: BENCH_SECONDS (per load run, default 10), BENCH_USERS (rows, default 10000),
# BENCH_LOAD_CPU / BENCH_SERVER_CPU (default 0 / 1), HELIOSDB (the binary, default
# build/tools/heliosdb), BENCH_PYTHON (a python3 with google.protobuf, default /usr/bin/python3),
# BENCH_KEEP=1 (keep the temporary directory), BENCH_REST_GET (auto, route or sql: how the REST
# point get is made; auto = GET /v1/users/{id} when the binary has an active
# [schema] auto_generate_rest, which is then set, and that route answers 200; else POST /v1/_sql).
# Exit status 1 when an answer was wrong, 2 when the benchmark could not run.

set -u -o pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELIOSDB=${HELIOSDB:-$ROOT/build/tools/heliosdb}
PY=${BENCH_PYTHON:-/usr/bin/python3}
SECS=${BENCH_SECONDS:-10}
USERS=${BENCH_USERS:-10000}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
SERVER_CPU=${BENCH_SERVER_CPU:-1}
GET_ID=$(( USERS < 4242 ? 1 : 4242 ))   # the fixed id of the gRPC point get
PAYLOAD=$(printf 'x%.0s' {1..100})        # the inserted payload: 100 bytes

die() { echo "bench_server: $*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
[[ ${BASH_VERSINFO[0]} -ge 5 ]] || die "needs bash 5 or newer (EPOCHREALTIME)"
for t in wrk h2load nghttpd nginx curl taskset protoc; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool: $t (apt-get install wrk nghttp2-client nghttp2-server nginx-light curl util-linux protobuf-compiler)"
done
[[ -x $PY ]] || die "missing python: $PY (set BENCH_PYTHON)"
"$PY" -c 'import google.protobuf' 2>/dev/null || die "$PY has no google.protobuf (apt-get install python3-protobuf)"
[[ -x $HELIOSDB ]] || die "no binary $HELIOSDB (cmake --build build -j2 --target heliosdb)"
[[ $SECS =~ ^[0-9]+$ && $SECS -ge 1 ]] || die "BENCH_SECONDS must be a whole number of seconds >= 1"
[[ $USERS =~ ^[0-9]+$ && $USERS -ge 1 ]] || die "BENCH_USERS must be a number >= 1"
taskset -c "$LOAD_CPU" true 2>/dev/null || die "cannot run on CPU $LOAD_CPU (BENCH_LOAD_CPU)"
taskset -c "$SERVER_CPU" true 2>/dev/null || die "cannot run on CPU $SERVER_CPU (BENCH_SERVER_CPU)"
[[ $LOAD_CPU != "$SERVER_CPU" ]] || die "BENCH_LOAD_CPU and BENCH_SERVER_CPU must differ"

# The generated REST API (GET /v1/{table}/{key}) is served when [schema] auto_generate_rest is on;
# set it when this binary has the key and does not call it "not yet active".
REST_GET=${BENCH_REST_GET:-auto}
REST_SET=()
case $REST_GET in
    auto|route)
        cfg=$("$HELIOSDB" config 2>/dev/null)
        if grep -q '^auto_generate_rest = ' <<<"$cfg" && ! grep -B1 '^auto_generate_rest = ' <<<"$cfg" | grep -q 'not yet active'; then
            REST_SET=(--set schema.auto_generate_rest=true)
        elif [[ $REST_GET == route ]]; then
            die "BENCH_REST_GET=route but $HELIOSDB has no active [schema] auto_generate_rest"
        fi ;;
    sql) ;;
    *) die "BENCH_REST_GET must be auto, route or sql" ;;
esac

# ---------------------------------------------------------------- temp dir, processes, cleanup
T=$(mktemp -d "${TMPDIR:-/tmp}/bench_server.XXXXXX") || die "mktemp failed"
PIDS=()           # every process started in the background; stopped by PID at the end

stop_pid() {      # stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL
    local pid=$1 limit=${2:-10} i=0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && (( i < limit * 20 )); do sleep 0.05; i=$((i + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench_server: PID $pid still running after ${limit}s, SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}
forget_pid() { local p keep=(); for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; PIDS=("${keep[@]}"); }

cleanup() {
    local p
    local i
    # the RSS sampler ends by itself within 200 ms (killing it would orphan its `sleep`)
    touch "$T/stop-sampler" 2>/dev/null
    for (( i = 0; i < 40; i++ )); do
        [[ -n ${SAMPLER_PID:-} ]] && kill -0 "$SAMPLER_PID" 2>/dev/null || break
        sleep 0.05
    done
    for p in "${PIDS[@]}"; do stop_pid "$p" 10; done
    PIDS=()
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then echo "bench_server: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
ms() { printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }         # microseconds -> "m.mmm"
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { local k v _ r=0; while read -r k v _; do [[ $k == VmRSS: ]] && r=$v; done <"/proc/$1/status" 2>/dev/null; echo "$r"; }

PROBLEMS=()
problem() { PROBLEMS+=("$*"); echo "  PROBLEM: $*"; }

# ---------------------------------------------------------------- python helper
cat >"$T/helper.py" <<'EOF'
import json, math, os, re, struct, sys

def frame(msg):
    b = msg.SerializeToString()
    return b"\0" + struct.pack(">I", len(b)) + b

def pct(sorted_vals, p):
    if not sorted_vals:
        return 0
    k = max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1)
    return sorted_vals[k]

cmd = sys.argv[1]
if cmd == "bodies":                      # bodies DIR USERS GET_ID PAYLOAD
    d, users, get_id, payload = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    sys.path.insert(0, os.path.join(d, "py"))
    import heliosdb_pb2 as pb
    r = pb.ExecuteRequest(sql="SELECT id, email, name, created_at FROM users WHERE id = ?")
    r.params.add().integer = get_id
    open(os.path.join(d, "grpc-get.bin"), "wb").write(frame(r))
    r = pb.ExecuteRequest(sql="INSERT INTO events (payload) VALUES (?)")
    r.params.add().text = payload
    open(os.path.join(d, "grpc-insert.bin"), "wb").write(frame(r))
    n = 0
    for start in range(1, users + 1, 1000):
        stmts = [{"sql": "INSERT INTO users (id, email, name, created_at) VALUES (?, ?, ?, ?)",
                  "params": [k, "user%d@example.com" % k, "User %d" % k, 1700000000 + k]}
                 for k in range(start, min(users, start + 999) + 1)]
        with open(os.path.join(d, "batch-%03d.json" % n), "w") as f:
            json.dump({"statements": stmts}, f)
        n += 1
elif cmd == "grpc-resp":                 # grpc-resp DIR RESP.bin -> the decoded ExecuteResponse as JSON
    sys.path.insert(0, os.path.join(sys.argv[2], "py"))
    import heliosdb_pb2 as pb
    data = open(sys.argv[3], "rb").read()
    if len(data) < 5 or data[0] != 0:
        print("BAD-FRAME %d bytes" % len(data)); sys.exit(0)
    (n,) = struct.unpack(">I", data[1:5])
    m = pb.ExecuteResponse(); m.ParseFromString(data[5:5 + n])
    rows = [[getattr(v, v.WhichOneof("kind")) if v.WhichOneof("kind") else None for v in row.values]
            for row in m.rows]
    print(json.dumps({"columns": list(m.columns), "rows": rows, "rows_affected": m.rows_affected,
                      "last_insert_id": m.last_insert_id}))
elif cmd == "h2":                        # h2 STDOUT LOG -> rps p50_us p99_us succeeded failed errored timeout non2xx data logged log_non200
    out = open(sys.argv[2]).read()
    def grab(pattern, default="0"):
        m = re.search(pattern, out)
        return m.group(1) if m else default
    rps = grab(r"finished in [^,]+, ([0-9.]+) req/s")
    succ = grab(r"(\d+) succeeded"); fail = grab(r"(\d+) failed"); err = grab(r"(\d+) errored")
    tmo = grab(r"(\d+) timeout")
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    non2xx = sum(int(x) for x in codes.groups()[1:]) if codes else -1
    data = grab(r"traffic:.*\((\d+)\) data", "-1")
    durs, bad = [], 0
    with open(sys.argv[3]) as f:
        for line in f:
            p = line.split("\t")
            if len(p) < 3:
                continue
            if p[1] != "200":
                bad += 1
            durs.append(int(p[2]))
    durs.sort()
    print(rps, pct(durs, 50), pct(durs, 99), succ, fail, err, tmo, non2xx, data, len(durs), bad)
EOF
mkdir -p "$T/py"
protoc --python_out="$T/py" -I "$ROOT/rpc/proto" "$ROOT/rpc/proto/heliosdb.proto" 2>"$T/protoc.err" \
    || die "protoc failed: $(cat "$T/protoc.err")"
"$PY" "$T/helper.py" bodies "$T" "$USERS" "$GET_ID" "$PAYLOAD" || die "could not build the request bodies"

# ---------------------------------------------------------------- wrk Lua scripts
# Every script counts the statuses that are not 200 in `response` and prints one RESULT line in
# `done`: requests duration_us p50_us p99_us non200 connect read write status timeout.
lua_common() {
    cat <<'EOF'
threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args)
  non200 = 0
  first = ""
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
response = function(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first == "" then first = status .. " " .. string.gsub(string.sub(body or "", 1, 200), "\n", " ") end
  end
end
done = function(summary, latency, requests)
  local n, f = 0, ""
  for _, t in ipairs(threads) do
    n = n + (t:get("non200") or 0)
    local tf = t:get("first")
    if f == "" and tf then f = tf end
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), n, e.connect, e.read, e.write, e.status, e.timeout))
  if f ~= "" then io.write("FIRST_NON200 " .. f .. "\n") end
end
EOF
}
{ lua_common; cat <<EOF
request = function()
  return wrk.format("GET", "/v1/users/" .. math.random(1, $USERS))
end
EOF
} >"$T/get-rest.lua"
{ lua_common; cat <<EOF
local hdr = { ["Content-Type"] = "application/json" }
request = function()
  return wrk.format("POST", "/v1/_sql", hdr,
    '{"sql": "SELECT id, email, name, created_at FROM users WHERE id = ?", "params": [' .. math.random(1, $USERS) .. ']}')
end
EOF
} >"$T/get-sql.lua"
{ lua_common; cat <<EOF
wrk.method = "POST"
wrk.path = "/v1/_sql"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"sql": "INSERT INTO events (payload) VALUES (?)", "params": ["$PAYLOAD"]}'
EOF
} >"$T/insert.lua"

# ---------------------------------------------------------------- results
declare -A RPS P50 P99 NOTE
ORDER=()
record() { RPS[$1]=$2; P50[$1]=$3; P99[$1]=$4; ORDER+=("$1"); }

# run_wrk KEY LABEL CONNS SCRIPT URL [taskset args...]
run_wrk() {
    local key=$1 label=$2 conns=$3 script=$4 url=$5; shift 5
    local out="$T/wrk-$key.txt"
    "$@" wrk -t1 -c"$conns" -d"${SECS}s" --latency -s "$script" "$url" >"$out" 2>&1
    local line; line=$(grep '^RESULT ' "$out" | tail -1)
    if [[ -z $line ]]; then
        problem "$label: wrk gave no result: $(tail -3 "$out" | tr '\n' ' ')"
        record "$key" 0 0 0; NOTE[$key]="wrk failed"; return
    fi
    local _ req dur p50 p99 non200 ec er ew es et
    read -r _ req dur p50 p99 non200 ec er ew es et <<<"$line"
    local rps; rps=$(awk -v r="$req" -v d="$dur" 'BEGIN { printf "%.0f", (d > 0 ? r / (d / 1e6) : 0) }')
    record "$key" "$rps" "$p50" "$p99"
    NOTE[$key]="$req requests, non-200: $non200, socket errors c/r/w/t: $ec/$er/$ew/$et"
    WRK_OK=$(( req - non200 ))
    printf '  %-34s %9s req/s  p50 %8s ms  p99 %8s ms  (%s)\n' "$label" "$rps" "$(ms "$p50")" "$(ms "$p99")" "${NOTE[$key]}"
    if (( non200 > 0 )); then problem "$label: $non200 answers not 200; first: $(grep '^FIRST_NON200' "$out" | cut -c14-)"; fi
    if (( ec + er + ew + et > 0 )); then problem "$label: socket errors connect/read/write/timeout $ec/$er/$ew/$et"; fi
    if (( req == 0 )); then problem "$label: no request completed"; fi
}

# run_h2 KEY LABEL CONNS STREAMS BODY URL EXPECT_BYTES [taskset args...]
# EXPECT_BYTES: the body size every answer must have (0: not checked).
run_h2() {
    local key=$1 label=$2 conns=$3 streams=$4 body=$5 url=$6 expect=$7; shift 7
    local out="$T/h2-$key.txt" log="$T/h2-$key.log"
    "$@" h2load -c"$conns" -m"$streams" -D "$SECS" -H 'content-type: application/grpc' -H 'te: trailers' \
        -d "$body" --log-file "$log" "$url" >"$out" 2>&1
    [[ -f $log ]] || : >"$log"
    local rps p50 p99 succ fail err tmo non2xx data logged lognon200
    read -r rps p50 p99 succ fail err tmo non2xx data logged lognon200 < <("$PY" "$T/helper.py" h2 "$out" "$log")
    rps=$(printf '%.0f' "${rps:-0}")
    record "$key" "$rps" "${p50:-0}" "${p99:-0}"
    NOTE[$key]="succeeded $succ, failed $fail, errored $err, timeout $tmo, non-2xx $non2xx"
    H2_OK=${succ:-0}
    printf '  %-34s %9s req/s  p50 %8s ms  p99 %8s ms  (%s)\n' "$label" "$rps" "$(ms "${p50:-0}")" "$(ms "${p99:-0}")" "${NOTE[$key]}"
    if [[ -z ${succ:-} || $succ == 0 ]]; then problem "$label: no request succeeded: $(grep -v '^progress' "$out" | tail -4 | tr '\n' ' ')"; fi
    if (( ${fail:-0} + ${err:-0} + ${tmo:-0} > 0 )); then problem "$label: h2load failed $fail, errored $err, timeout $tmo"; fi
    if (( ${non2xx:-0} != 0 || ${lognon200:-0} != 0 )); then problem "$label: $non2xx answers not 2xx ($lognon200 not 200 in the log)"; fi
    if (( expect > 0 && succ > 0 )); then
        if (( data == succ * expect )); then
            echo "    every answer carried the expected $expect-byte gRPC body ($data data bytes / $succ)"
        else
            problem "$label: $data data bytes for $succ answers, expected $expect each ($(( succ * expect )))"
        fi
    fi
}

# ---------------------------------------------------------------- heliosdb serve
SRV_PID=""; SRV_PORT=""; SRV_URL=""; START_US=0; SRV_LOG=""
NSTART=0
# start_server DBDIR CPU("" = unpinned): timed from exec to /ready 200
start_server() {
    local dir=$1 cpu=$2 pre=() extra=()
    NSTART=$((NSTART + 1)); SRV_LOG="$T/server-$NSTART.log"
    SRV_PORT=$(free_port); SRV_URL="http://127.0.0.1:$SRV_PORT"
    if [[ -n $cpu ]]; then pre=(taskset -c "$cpu"); extra=(--set performance.worker_threads=1); fi
    local t0 t1 code deadline
    t0=$(now_us)
    "${pre[@]}" "$HELIOSDB" serve "$dir" --set api.bind_address=127.0.0.1 --set api.rest_port="$SRV_PORT" \
        --set api.grpc_port=0 --set observability.metrics_enabled=false "${REST_SET[@]}" "${extra[@]}" >"$SRV_LOG" 2>&1 &
    SRV_PID=$!; PIDS+=("$SRV_PID")
    deadline=$(( t0 + 30000000 ))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$SRV_URL/ready")
        [[ $code == 200 ]] && break
        if ! kill -0 "$SRV_PID" 2>/dev/null; then cat "$SRV_LOG" >&2; die "heliosdb serve exited before /ready"; fi
        (( $(now_us) < deadline )) || { cat "$SRV_LOG" >&2; die "heliosdb serve not ready after 30 s"; }
        sleep 0.005
    done
    t1=$(now_us)
    START_US=$(( t1 - t0 ))
}
stop_server() { stop_pid "$SRV_PID" 40; forget_pid "$SRV_PID"; SRV_PID=""; }
shards_of() { sed -n 's/.*: \([0-9]*\) shards on \([0-9]*\) threads.*/\1 shards on \2 threads/p' "$SRV_LOG" | head -1; }

sql() {   # sql JSON-BODY -> the answer's body; exits on a transport failure
    curl -s --max-time 30 -H 'Content-Type: application/json' --data-binary "$1" "$SRV_URL/v1/_sql"
}

RSS_FILE=""; SAMPLER_PID=""
start_sampler() {   # the max VmRSS of $SRV_PID, every 200 ms, into $RSS_FILE
    RSS_FILE="$T/rss-max-$NSTART"; echo 0 >"$RSS_FILE"; rm -f "$T/stop-sampler"
    local pid=$SRV_PID
    (
        max=0
        while [[ ! -e $T/stop-sampler ]] && kill -0 "$pid" 2>/dev/null; do
            r=$(rss_kb "$pid"); (( r > max )) && { max=$r; echo "$max" >"$RSS_FILE"; }
            sleep 0.2
        done
    ) &
    SAMPLER_PID=$!; PIDS+=("$SAMPLER_PID")
}
stop_sampler() {    # sets RSS_MAX
    touch "$T/stop-sampler"; wait "$SAMPLER_PID" 2>/dev/null; forget_pid "$SAMPLER_PID"
    RSS_MAX=$(cat "$RSS_FILE")
}

# ---------------------------------------------------------------- references
NGINX_PID=""; NGINX_URL=""
start_nginx() {   # start_nginx CPU("" = unpinned)
    local cpu=$1 d="$T/nginx" port; port=$(free_port); NGINX_URL="http://127.0.0.1:$port"
    rm -rf "$d"; mkdir -p "$d"/{body,proxy,fastcgi,uwsgi,scgi}
    cat >"$d/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $d/err.log;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok"; }
    }
}
EOF
    local pre=(); [[ -n $cpu ]] && pre=(taskset -c "$cpu")
    "${pre[@]}" nginx -e "$d/err.log" -c "$d/nginx.conf" -p "$d/" >"$d/stdout.log" 2>&1 &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    wait_http "$NGINX_URL/" "$NGINX_PID" nginx "$d/err.log" ""
}
NGHTTPD_PID=""; NGHTTPD_URL=""
start_nghttpd() {   # start_nghttpd CPU("" = unpinned)
    local cpu=$1 port; port=$(free_port); NGHTTPD_URL="http://127.0.0.1:$port"
    mkdir -p "$T/docroot"; printf 'ok' >"$T/docroot/ok"
    local pre=(); [[ -n $cpu ]] && pre=(taskset -c "$cpu")
    "${pre[@]}" nghttpd --no-tls -a 127.0.0.1 -d "$T/docroot" "$port" >"$T/nghttpd.log" 2>&1 &
    NGHTTPD_PID=$!; PIDS+=("$NGHTTPD_PID")
    wait_http "$NGHTTPD_URL/ok" "$NGHTTPD_PID" nghttpd "$T/nghttpd.log" --http2-prior-knowledge
}
wait_http() {   # wait_http URL PID NAME LOG CURLFLAG: 200 within 10 s
    local url=$1 pid=$2 name=$3 log=$4 flag=$5 i code
    for (( i = 0; i < 1000; i++ )); do
        code=$(curl -s $flag -o /dev/null -w '%{http_code}' --max-time 1 "$url")
        [[ $code == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "$name exited at start"; }
        sleep 0.01
    done
    cat "$log" >&2; die "$name does not answer 200 at $url after 10 s"
}
stop_ref() { stop_pid "$1" 10; forget_pid "$1"; }

# ---------------------------------------------------------------- one phase
GET_MODE=""   # rest | sql, decided at run time in the first phase
GET_PROBE=""
declare -A START_FRESH START_REOPEN RSS_IDLE RSS_DATA RSS_LOAD SHARDS

phase() {   # phase pinned|unpinned
    local mode=$1 scpu="" lpre=() db="$T/db-$1"
    if [[ $mode == pinned ]]; then scpu=$SERVER_CPU; lpre=(taskset -c "$LOAD_CPU"); fi
    echo
    if [[ $mode == pinned ]]; then
        echo "== pinned: load tools on CPU $LOAD_CPU; heliosdb (worker_threads=1), nginx, nghttpd on CPU $SERVER_CPU"
    else
        echo "== unpinned: every process on all CPUs"
    fi

    # fresh database: the first start creates it (under taskset when pinned: one shard)
    start_server "$db" "$scpu"
    START_FRESH[$mode]=$START_US; SHARDS[$mode]=$(shards_of)
    sleep 0.2; RSS_IDLE[$mode]=$(rss_kb "$SRV_PID")
    echo "  start, fresh database: $(ms "$START_US") ms (${SHARDS[$mode]}); idle RSS ${RSS_IDLE[$mode]} kB"

    local r
    r=$(sql '{"sql": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, created_at INTEGER)"}')
    [[ $r == *'"rows_affected"'* ]] || die "CREATE TABLE users failed: $r"
    r=$(sql '{"sql": "CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT)"}')
    [[ $r == *'"rows_affected"'* ]] || die "CREATE TABLE events failed: $r"
    local f t0 t1; t0=$(now_us)
    for f in "$T"/batch-*.json; do
        r=$(curl -s --max-time 60 -H 'Content-Type: application/json' --data-binary @"$f" "$SRV_URL/v1/_batch")
        [[ $r == '{"results":'* && $r != *'"error"'* ]] || die "batch $f failed: ${r:0:300}"
    done
    t1=$(now_us)
    r=$(sql '{"sql": "SELECT count(*) FROM users"}')
    [[ $r == *"[[$USERS]]"* ]] || die "users holds not $USERS rows after loading: $r"
    echo "  loaded $USERS users through /v1/_batch in $(ms $(( t1 - t0 ))) ms"

    # reopen with data
    stop_server
    start_server "$db" "$scpu"
    START_REOPEN[$mode]=$START_US
    sleep 0.2; RSS_DATA[$mode]=$(rss_kb "$SRV_PID")
    echo "  start, reopened with data: $(ms "$START_US") ms; idle RSS ${RSS_DATA[$mode]} kB"

    # which REST request: the generated route when it answers, else /v1/_sql
    if [[ -z $GET_MODE ]]; then
        GET_PROBE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$SRV_URL/v1/users/1")
        if [[ $REST_GET != sql && $GET_PROBE == 200 ]]; then
            GET_MODE=rest
        else
            [[ $REST_GET == route ]] && die "BENCH_REST_GET=route but GET /v1/users/1 answered $GET_PROBE"
            GET_MODE=sql
        fi
    fi
    local check_id=$(( USERS < 42 ? 1 : 42 ))
    if [[ $GET_MODE == rest ]]; then
        r=$(curl -s --max-time 5 "$SRV_URL/v1/users/$check_id")
    else
        r=$(sql "{\"sql\": \"SELECT id, email, name, created_at FROM users WHERE id = ?\", \"params\": [$check_id]}")
    fi
    [[ $r == *"user$check_id@example.com"* ]] || problem "$mode: REST point get of id $check_id answered: ${r:0:300}"

    # the gRPC answer every h2load request must get
    local hdr="$T/grpc-$mode.hdr" resp="$T/grpc-$mode.resp"
    curl -s --http2-prior-knowledge --max-time 5 -H 'content-type: application/grpc' -H 'te: trailers' \
        --data-binary @"$T/grpc-get.bin" -D "$hdr" -o "$resp" "$SRV_URL/heliosdb.v1.Database/Execute"
    local decoded; decoded=$("$PY" "$T/helper.py" grpc-resp "$T" "$resp")
    if ! grep -qi '^grpc-status: 0' "$hdr" || [[ $decoded != *"user$GET_ID@example.com"* ]]; then
        problem "$mode: gRPC Execute of id $GET_ID: $(tr -d '\r' <"$hdr" | tr '\n' ' ') $decoded"
    fi
    local grpc_bytes; grpc_bytes=$(stat -c %s "$resp")

    start_sampler
    local script="$T/get-$GET_MODE.lua" path; [[ $GET_MODE == rest ]] && path=/v1/users/1 || path=/v1/_sql
    run_wrk "rest_get_$mode" "REST point get ($mode)" 64 "$script" "$SRV_URL$path" "${lpre[@]}"
    start_nginx "$scpu"
    run_wrk "nginx_$mode" "nginx return 200 ($mode)" 64 "$script" "$NGINX_URL$path" "${lpre[@]}"
    stop_ref "$NGINX_PID"
    [[ -s $T/nginx/err.log ]] && grep -q '\[\(emerg\|alert\|crit\|error\)\]' "$T/nginx/err.log" \
        && problem "nginx error log: $(grep '\[\(emerg\|alert\|crit\|error\)\]' "$T/nginx/err.log" | head -2 | tr '\n' ' ')"

    run_h2 "grpc_get_$mode" "gRPC Execute point get ($mode)" 16 32 "$T/grpc-get.bin" \
        "$SRV_URL/heliosdb.v1.Database/Execute" "$grpc_bytes" "${lpre[@]}"
    start_nghttpd "$scpu"
    run_h2 "nghttpd_$mode" "nghttpd 2-byte file ($mode)" 16 32 "$T/grpc-get.bin" "$NGHTTPD_URL/ok" 2 "${lpre[@]}"
    stop_ref "$NGHTTPD_PID"

    if [[ $mode == unpinned ]]; then
        echo "  durable inserts (wal.mode = sync):"
        run_wrk "rest_insert" "REST INSERT ($mode)" 16 "$T/insert.lua" "$SRV_URL/v1/_sql"
        local rest_ok=${WRK_OK:-0}
        run_h2 "grpc_insert" "gRPC Execute INSERT ($mode)" 16 4 "$T/grpc-insert.bin" \
            "$SRV_URL/heliosdb.v1.Database/Execute" 0
        local grpc_ok=${H2_OK:-0}
        r=$(sql '{"sql": "SELECT count(*) FROM events"}')
        local count; count=$(sed -n 's/.*"rows":\[\[\([0-9]*\)\]\].*/\1/p' <<<"$r")
        local acked=$(( rest_ok + grpc_ok ))
        EVENTS_LINE="events rows: ${count:-?}; acknowledged: $acked (REST 200s $rest_ok + gRPC succeeded $grpc_ok)"
        echo "  sanity: $EVENTS_LINE"
        if [[ -z $count ]]; then
            problem "SELECT count(*) FROM events answered: $r"
        elif (( count < acked )); then
            problem "events holds $count rows but $acked inserts were acknowledged"
        elif (( count > acked + 16 + 16 * 4 )); then
            problem "events holds $count rows, more than the $acked acknowledged + 80 in flight"
        else
            EVENTS_LINE+="; $(( count - acked )) more were in flight when the load tools stopped"
        fi
    fi
    stop_sampler; RSS_LOAD[$mode]=$RSS_MAX
    echo "  max RSS under load: ${RSS_LOAD[$mode]} kB"
    stop_server
    return 0
}

# ---------------------------------------------------------------- run
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
[[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] && commit+="+modified"
echo "bench_server.sh: heliosdb serve vs nginx / nghttpd on 127.0.0.1"
echo "  $(nproc --all) CPUs online, $(nproc) usable ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)); $(uname -sr)"
echo "  binary $HELIOSDB (tree $commit); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(h2load --version), $(nginx -v 2>&1 | cut -d: -f2 | tr -d ' '), $(nghttpd --version)"
echo "  ${SECS} s per load run; $USERS users; data in $T ($(df -T "$T" | awk 'NR == 2 { print $2 }'))"
EVENTS_LINE=""
T_ALL0=$(now_us)
phase pinned
phase unpinned
T_ALL1=$(now_us)
if grep -qE '^[0-9TZ:.-]+ (error|warn|fatal) ' "$T"/server-*.log; then
    problem "server log: $(grep -hE '^[0-9TZ:.-]+ (error|warn|fatal) ' "$T"/server-*.log | head -3 | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- table
echo
if [[ $GET_MODE == rest ]]; then
    echo "REST point get: GET /v1/users/{random id} (server run with ${REST_SET[*]}; GET /v1/users/1 answered 200)"
else
    why="GET /v1/users/1 answered $GET_PROBE${REST_SET[*]:+ with ${REST_SET[*]}}"
    [[ $REST_GET == sql ]] && why="BENCH_REST_GET=sql"
    echo "REST point get: POST /v1/_sql {\"sql\": \"SELECT id, email, name, created_at FROM users WHERE id = ?\", \"params\": [random id]} ($why)"
fi
echo "gRPC point get: POST /heliosdb.v1.Database/Execute, ExecuteRequest SELECT ... WHERE id = ? with id $GET_ID"
echo "wrk -t1 -c64 -d${SECS}s (inserts -c16); h2load -c16 -m32 -D $SECS (inserts -m4); latency in ms"
echo
row() {   # row LABEL KEY REFLABEL REFKEY
    local l=$1 k=$2 rl=$3 rk=$4 ratio="-" rr="-" rp50="-" rp99="-"
    if [[ -n $rk ]]; then
        rr=${RPS[$rk]}; rp50=$(ms "${P50[$rk]}"); rp99=$(ms "${P99[$rk]}")
        ratio=$(awk -v a="${RPS[$k]}" -v b="$rr" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "-" }')
    fi
    printf '%-32s %9s %8s %8s   %-8s %9s %8s %8s %7s\n' "$l" "${RPS[$k]}" "$(ms "${P50[$k]}")" "$(ms "${P99[$k]}")" "$rl" "$rr" "$rp50" "$rp99" "$ratio"
}
printf '%-32s %9s %8s %8s   %-8s %9s %8s %8s %7s\n' measurement "req/s" "p50" "p99" reference "req/s" "p50" "p99" ratio
for m in pinned unpinned; do
    row "REST point get, $m" "rest_get_$m" nginx "nginx_$m"
    row "gRPC point get, $m" "grpc_get_$m" nghttpd "nghttpd_$m"
done
row "REST INSERT durable, unpinned" rest_insert "-" ""
row "gRPC INSERT durable, unpinned" grpc_insert "-" ""
echo
printf '%-32s %12s %12s\n' "" pinned unpinned
printf '%-32s %12s %12s\n' "shards" "${SHARDS[pinned]%% shards*}" "${SHARDS[unpinned]%% shards*}"
printf '%-32s %12s %12s\n' "start, fresh database (ms)" "$(ms "${START_FRESH[pinned]}")" "$(ms "${START_FRESH[unpinned]}")"
printf '%-32s %12s %12s\n' "start, reopened with data (ms)" "$(ms "${START_REOPEN[pinned]}")" "$(ms "${START_REOPEN[unpinned]}")"
printf '%-32s %12s %12s\n' "RSS idle, fresh (kB)" "${RSS_IDLE[pinned]}" "${RSS_IDLE[unpinned]}"
printf '%-32s %12s %12s\n' "RSS idle, reopened (kB)" "${RSS_DATA[pinned]}" "${RSS_DATA[unpinned]}"
printf '%-32s %12s %12s\n' "RSS max under load (kB)" "${RSS_LOAD[pinned]}" "${RSS_LOAD[unpinned]}"
echo
echo "checks:"
for k in "${ORDER[@]}"; do printf '  %-20s %s\n' "$k" "${NOTE[$k]}"; done
echo "  $EVENTS_LINE"
echo "total time $(( (T_ALL1 - T_ALL0) / 1000000 )) s"
if (( ${#PROBLEMS[@]} > 0 )); then
    echo
    echo "PROBLEMS (${#PROBLEMS[@]}):"
    for p in "${PROBLEMS[@]}"; do echo "  - $p"; done
    exit 1
fi
echo "no problems seen: every answer 200 / succeeded, bodies as expected"
exit 0
