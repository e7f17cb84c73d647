#!/usr/bin/env bash
# `heliosdb serve` with [api.tls]: a certificate made here for 127.0.0.1, then curl over
# HTTP/1.1 and HTTP/2 (ALPN), a Python gRPC client with TLS credentials, a plaintext client
# refused, a bad key refused at start; 127.0.0.1 only, bounded, the server stopped by PID.
#
# usage: serve_tls.sh HELIOSDB_BIN PROTO_DIR
set -euo pipefail
bin=$1
proto=$2
work=$(mktemp -d /tmp/hdb-tls-XXXXXX)
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
    cat "$work/server.log" >&2 || true
    exit 1
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tls=(--set api.tls.enabled=true --set api.tls.cert_path="$work/cert.pem"
     --set api.tls.key_path="$work/key.pem")
common=(--set api.bind_address=127.0.0.1 --set api.rest_port="$port" --set api.grpc_port=0
        --set observability.metrics_enabled=false)

# a key that does not match the certificate: refused at start, naming it
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=x \
    -keyout "$work/other.pem" -out "$work/other-cert.pem" >/dev/null 2>&1
if "$bin" serve "$work/db" "${common[@]}" --set api.tls.enabled=true \
    --set api.tls.cert_path="$work/cert.pem" --set api.tls.key_path="$work/other.pem" \
    >"$work/bad.log" 2>&1; then
    fail "a mismatched key was accepted"
fi
grep -q "does not match" "$work/bad.log" || fail "mismatched key message: $(cat "$work/bad.log")"
echo "ok: a key that does not match the certificate stops the server at start"

"$bin" serve "$work/db" "${common[@]}" "${tls[@]}" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    curl -s -m 2 --cacert "$work/cert.pem" "https://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "the server exited at start"
    sleep 0.1
done
out=$(curl -s -m 5 --cacert "$work/cert.pem" --http1.1 -w ' %{http_version}' "https://127.0.0.1:$port/health")
[ "$out" = '{"status":"ok"} 1.1' ] || fail "HTTP/1.1 over TLS: $out"
echo "ok: HTTP/1.1 over TLS"
out=$(curl -s -m 5 --cacert "$work/cert.pem" --http2 -w ' %{http_version}' -X POST \
    -H 'Content-Type: application/json' -d '{"sql": "SELECT 40 + 2"}' "https://127.0.0.1:$port/v1/_sql")
case $out in *'"rows":[[42]]'*' 2') ;; *) fail "HTTP/2 over TLS (ALPN h2): $out" ;; esac
echo "ok: HTTP/2 over TLS (ALPN h2), POST /v1/_sql"
if curl -s -m 5 "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    fail "plaintext answered while TLS is on"
fi
echo "ok: a plaintext client gets no answer"
mkdir "$work/gen"
protoc -I "$proto" --python_out="$work/gen" heliosdb.proto health.proto
timeout 30 /usr/bin/python3 - "$work" "$port" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/gen")
import grpc
import health_pb2, heliosdb_pb2 as pb
creds = grpc.ssl_channel_credentials(open(sys.argv[1] + "/cert.pem", "rb").read())
ch = grpc.secure_channel("127.0.0.1:" + sys.argv[2], creds)
check = ch.unary_unary("/grpc.health.v1.Health/Check",
                       request_serializer=lambda m: m.SerializeToString(),
                       response_deserializer=health_pb2.HealthCheckResponse.FromString)
assert check(health_pb2.HealthCheckRequest(), timeout=5).status == 1
ex = ch.unary_unary("/heliosdb.v1.Database/Execute",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=pb.ExecuteResponse.FromString)
r = ex(pb.ExecuteRequest(sql="SELECT upper('tls')"), timeout=5)
assert r.rows[0].values[0].text == "TLS", r
print("ok: gRPC over TLS: health Check and Execute")
PY
kill -TERM "$pid"
wait "$pid" && st=0 || st=$?
pid=""
[ "$st" = 0 ] || fail "SIGTERM: exit status $st"
echo "ok: all"
