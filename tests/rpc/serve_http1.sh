#!/usr/bin/env bash
# `heliosdb serve` with curl as the client, on 127.0.0.1 only, bounded in time:
# health and readiness, SQL and batches over HTTP/1.1 (keep-alive, pipelining),
# authentication, every kind of bad request getting its documented error, HTTP/2
# on the same port, SIGTERM under load (exit 0, every
# acknowledged write there after a restart) and SIGKILL (the same after recovery).
#
# usage: serve_http1.sh HELIOSDB_BIN
set -euo pipefail
bin=$1
work=$(mktemp -d /tmp/hdb-serve-XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- server output:" >&2
    cat "$work/server.log" >&2 || true
    exit 1
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
url="http://127.0.0.1:$port"
token="s3cret-token"

start() { # extra --set options
    SERVE_TEST_TOKEN=$token "$bin" serve "$work/db" --set api.bind_address=127.0.0.1 \
        --set api.rest_port="$port" --set api.grpc_port=0 --set observability.metrics_enabled=false \
        --set api.auth_token_env=SERVE_TEST_TOKEN --set api.max_request_size_mb=1 \
        --set container.graceful_shutdown_timeout_seconds=10 --set schema.auto_generate_rest=true \
        "$@" >>"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
        if curl -s -m 2 "$url/health" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || fail "the server exited at start"
        sleep 0.1
    done
    fail "no /health answer within 10 s"
}

auth=(-H "Authorization: Bearer $token")
json=(-H "Content-Type: application/json")

# expect NAME STATUS BODY-SUBSTRING curl-args...
expect() {
    local name=$1 want_status=$2 want_body=$3
    shift 3
    local out status
    out=$(curl -s -m 5 -o "$work/body" -w '%{http_code}' "$@") || fail "$name: curl failed"
    status=$out
    [ "$status" = "$want_status" ] || fail "$name: status $status, expected $want_status: $(cat "$work/body")"
    grep -qF -- "$want_body" "$work/body" || fail "$name: body $(cat "$work/body") lacks $want_body"
    echo "ok: $name"
}

start
expect "health" 200 '{"status":"ok"}' "$url/health"
expect "ready" 200 '{"status":"ready"}' "$url/ready"
expect "no token" 401 '"UNAUTHENTICATED"' -X POST "$url/v1/_sql" "${json[@]}" -d '{"sql": "SELECT 1"}'
expect "wrong token" 401 '"UNAUTHENTICATED"' -X POST "$url/v1/_sql" "${json[@]}" \
    -H "Authorization: Bearer nope" -d '{"sql": "SELECT 1"}'
expect "create" 200 '"rows_affected"' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    -d '{"sql": "CREATE TABLE acct (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT UNIQUE NOT NULL, bal DECIMAL(12,2) NOT NULL)"}'
expect "insert with params" 200 '"last_insert_id":1' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    -d '{"sql": "INSERT INTO acct (email, bal) VALUES (?, ?)", "params": ["a@example.com", "10.50"]}'
expect "select" 200 '"rows":[[1,"a@example.com","10.50"]]' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    -d '{"sql": "SELECT id, email, bal FROM acct"}'
expect "batch" 200 '"results"' -X POST "$url/v1/_batch" "${auth[@]}" "${json[@]}" \
    -d '{"statements": [{"sql": "INSERT INTO acct (email, bal) VALUES (?, 1)", "params": ["b@example.com"]}, {"sql": "UPDATE acct SET bal = bal - 1 WHERE id = 1"}]}'
expect "batch rolled back" 409 '"FAILED_PRECONDITION"' -X POST "$url/v1/_batch" "${auth[@]}" "${json[@]}" \
    -d '[{"sql": "INSERT INTO acct (email, bal) VALUES (?, 1)", "params": ["c@example.com"]}, {"sql": "INSERT INTO acct (email, bal) VALUES (?, 1)", "params": ["a@example.com"]}]'
expect "after the batches" 200 '"columns":["count(*)","sum(bal)"],"rows":[[2,"10.50"]]' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    -d '{"sql": "SELECT count(*), sum(bal) FROM acct"}'
expect "syntax error" 400 '"INVALID_ARGUMENT"' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" -d '{"sql": "SELEC 1"}'
expect "unknown table" 400 'no such table' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" -d '{"sql": "SELECT * FROM nope"}'
expect "malformed JSON" 400 '"INVALID_ARGUMENT"' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" -d '{"sql": '
expect "wrong content type" 415 'application/json' -X POST "$url/v1/_sql" "${auth[@]}" \
    -H "Content-Type: text/plain" -d 'SELECT 1'
expect "wrong method" 405 'use POST' "${auth[@]}" "$url/v1/_sql"
expect "unknown route" 404 '"NOT_FOUND"' "${auth[@]}" "$url/v1/nothing/here"
head -c 1200000 /dev/zero | tr '\0' 'x' >"$work/big"
expect "body over max_request_size_mb" 413 '"status":413' -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    --data-binary @"$work/big"

# the REST API generated from the schema ([schema] auto_generate_rest)
expect "table POST" 201 '"email":"r@example.com"' -X POST "$url/v1/acct" "${auth[@]}" "${json[@]}" \
    -H 'Prefer: return=representation' -d '{"email": "r@example.com", "bal": "3.25"}'
expect "table GET filtered" 200 '[{"id":' "${auth[@]}" "$url/v1/acct?email=eq.r@example.com&select=id,bal"
expect "table GET by key" 200 '"email":"a@example.com"' "${auth[@]}" "$url/v1/acct/1"
expect "table PATCH" 200 '"bal":"7.00"' -X PATCH "$url/v1/acct/1" "${auth[@]}" "${json[@]}" \
    -H 'Prefer: return=representation' -d '{"bal": "7.00"}'
expect "table unknown column" 400 'nope' "${auth[@]}" "$url/v1/acct?nope=eq.1"
expect "table unknown" 404 '"NOT_FOUND"' "${auth[@]}" "$url/v1/nosuchtable"
expect "a table created now is routed at once" 200 '"rows_affected"' -X POST "$url/v1/_sql" \
    "${auth[@]}" "${json[@]}" -d '{"sql": "CREATE TABLE later (k INTEGER PRIMARY KEY, v TEXT); INSERT INTO later VALUES (1, 5)"}'
expect "the new table" 200 '[{"k":1,"v":"5"}]' "${auth[@]}" "$url/v1/later"
curl -s -m 5 -o /dev/null -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
    -d '{"sql": "ALTER TABLE later ADD COLUMN w INT DEFAULT 7"}'
expect "a column added now" 200 '[{"w":7}]' "${auth[@]}" "$url/v1/later?select=w"
expect "openapi" 200 '"/v1/acct/{id}"' "${auth[@]}" "$url/v1/_openapi.json"
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X DELETE "${auth[@]}" "$url/v1/acct/1")
[ "$code" = 204 ] || fail "table DELETE: $code"
expect "table GET after DELETE" 404 '"NOT_FOUND"' "${auth[@]}" "$url/v1/acct/1"
expect "snapshot created" 201 '{"id":' -X POST "${auth[@]}" "$url/v1/_snapshots"
sid=$(sed 's/[^0-9]//g' "$work/body")
expect "snapshots listed" 200 "{\"id\":$sid,\"created_ms\":" "${auth[@]}" "$url/v1/_snapshots"
expect "metrics" 200 'heliosdb_requests_total{protocol="http1"}' "${auth[@]}" "$url/metrics"
for m in 'heliosdb_request_duration_seconds_bucket{le="+Inf"}' 'heliosdb_commits_total{shard="0"}' \
    'heliosdb_wal_fsyncs_total{shard="1"}' 'heliosdb_cache_hits_total' 'heliosdb_recovery_seconds' \
    'heliosdb_connections_open' 'heliosdb_wal_fsync_duration_seconds_bucket{le="+Inf"}' \
    'heliosdb_corrupt_page_reads_total{shard="0"} 0' 'heliosdb_shard_ring_depth{shard="1"}' \
    'heliosdb_wal_groups_total{shard="0"}' 'heliosdb_wal_records_total{shard="1"}' \
    'heliosdb_route_requests_total{protocol="rest",route="/v1/{table}/{pk}",status="404"}' \
    'heliosdb_route_requests_total{protocol="rest",route="/v1/_snapshots",status="201"}' \
    'heliosdb_route_requests_total{protocol="rest",route="/v1/{table}",status="404"}'; do
    grep -qF -- "$m" "$work/body" || fail "/metrics lacks $m"
done
echo "ok: metrics name requests by protocol and by route and status, latency buckets, per-shard commits, WAL, cache and ring depth"

# keep-alive: several requests on one connection (curl reuses it), and pipelined requests
curl -s -m 5 "$url/health" "$url/health" "$url/ready" >"$work/body" || fail "keep-alive"
[ "$(grep -o '"status"' "$work/body" | wc -l)" = 3 ] || fail "keep-alive answers: $(cat "$work/body")"
echo "ok: keep-alive"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    timeout 5 /usr/bin/python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())' "$port" >"$work/body" || fail "pipelining"
[ "$(grep -o 'HTTP/1.1 200 OK' "$work/body" | wc -l)" = 3 ] || fail "pipelined answers: $(cat "$work/body")"
echo "ok: pipelining (3 requests in one write, 3 answers in order, closed after the last)"

# the same port serves HTTP/2 (prior knowledge and Upgrade: h2c; serve_grpc.py tests more)
expect "HTTP/2 prior knowledge" 200 '{"status":"ok"}' --http2-prior-knowledge "$url/health"
expect "Upgrade: h2c" 200 '{"status":"ok"}' --http2 "$url/health"
expect "still serving" 200 '{"status":"ok"}' "$url/health"

# SIGTERM under write load: every acknowledged insert is there after a restart
writer() {
    local n=0
    while [ $n -lt 400 ]; do
        out=$(curl -s -m 5 -X POST "$url/v1/_sql" "${auth[@]}" "${json[@]}" \
            -d "{\"sql\": \"INSERT INTO acct (email, bal) VALUES ('w$1-$n', 1)\"}" 2>/dev/null) || break
        case $out in *last_insert_id*) echo "w$1-$n" >>"$work/acked" ;; *) break ;; esac
        n=$((n + 1))
    done
}
: >"$work/acked"
writer 1 & w1=$!
writer 2 & w2=$!
sleep 1
kill -TERM "$pid"
wait "$pid" && st=0 || st=$?
wait "$w1" "$w2" || true
[ "$st" = 0 ] || fail "SIGTERM: exit status $st"
grep -q "stopped; database checkpointed and closed" "$work/server.log" || fail "no clean stop logged"
echo "ok: SIGTERM under load: exit 0 after $(wc -l <"$work/acked") acknowledged inserts"
pid=""
start
for e in $(cat "$work/acked"); do
    echo "'$e'"
done | paste -sd, >"$work/list"
if [ -s "$work/list" ]; then
    want=$(wc -l <"$work/acked")
    expect "acknowledged inserts after SIGTERM" 200 "\"rows\":[[$want]]" -X POST "$url/v1/_sql" \
        "${auth[@]}" "${json[@]}" -d "{\"sql\": \"SELECT count(*) FROM acct WHERE email IN ($(cat "$work/list"))\"}"
fi

# SIGKILL under write load: the same after recovery
: >"$work/acked"
writer 3 & w1=$!
sleep 1
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
wait "$w1" || true
pid=""
start
for e in $(cat "$work/acked"); do
    echo "'$e'"
done | paste -sd, >"$work/list"
if [ -s "$work/list" ]; then
    want=$(wc -l <"$work/acked")
    expect "acknowledged inserts after SIGKILL" 200 "\"rows\":[[$want]]" -X POST "$url/v1/_sql" \
        "${auth[@]}" "${json[@]}" -d "{\"sql\": \"SELECT count(*) FROM acct WHERE email IN ($(cat "$work/list"))\"}"
fi
kill -TERM "$pid"
wait "$pid" && st=0 || st=$?
pid=""
[ "$st" = 0 ] || fail "SIGTERM after the SIGKILL run: exit status $st"

# too many connections, idle connections closed, a slow request timed out, a health port
hport=$(free_port)
start --set database.max_connections=2 --set api.idle_timeout_seconds=1 \
    --set api.request_timeout_seconds=1 --set container.health_check_port="$hport"
out=$(curl -s -m 5 "http://127.0.0.1:$hport/ready") || fail "health port"
[ "$out" = '{"status":"ready"}' ] || fail "health port: $out"
echo "ok: [container] health_check_port serves the probes"
timeout 20 /usr/bin/python3 - "$port" <<'PY' || fail "max_connections / idle_timeout_seconds"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port), timeout=5)
b = socket.create_connection(("127.0.0.1", port), timeout=5)
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", port), timeout=5)
answer = c.recv(4096).decode()
assert answer.startswith("HTTP/1.1 503") and "max_connections" in answer, answer
for s in (a, b):  # idle past 1 s: the server closes them (recv sees the end)
    s.settimeout(5)
    assert s.recv(1) == b"", "an idle connection was not closed"
d = socket.create_connection(("127.0.0.1", port), timeout=5)  # room again
d.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert b"200 OK" in d.recv(4096)
d.close()
e = socket.create_connection(("127.0.0.1", port), timeout=5)  # a request that never ends
e.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
time.sleep(0.5)
e.sendall(b"X-Slow: 1\r\n")
answer = e.recv(4096).decode()
assert answer.startswith("HTTP/1.1 408") and "request_timeout_seconds" in answer, answer
PY
echo "ok: past max_connections 503; idle connections closed; a request still arriving after request_timeout_seconds gets 408"
kill -TERM "$pid"
wait "$pid" && st=0 || st=$?
pid=""
[ "$st" = 0 ] || fail "final SIGTERM: exit status $st"
echo "ok: all"
