#!/usr/bin/python3
"""`heliosdb serve` over HTTP/2 with real clients: Python gRPC (Debian's
python3-grpcio and python3-protobuf, message classes made by protoc
--python_out from rpc/proto/), curl over h2c (prior knowledge and Upgrade),
and a bounded h2load run. 127.0.0.1 only; every call has a deadline; the
server is stopped by its PID at the end.

usage: serve_grpc.py HELIOSDB_BIN PROTO_DIR
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN, PROTO_DIR = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="hdb-grpc-")
TOKEN = "grpc-test-token"
server = None


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    if server is not None and os.path.exists(os.path.join(WORK, "server.log")):
        sys.stderr.write(open(os.path.join(WORK, "server.log")).read())
    stop(signal.SIGKILL)
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1)


def ok(name):
    print("ok:", name, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


PORT = free_port()
ADDR = "127.0.0.1:%d" % PORT


def start():
    global server
    env = dict(os.environ, GRPC_TEST_TOKEN=TOKEN)
    log = open(os.path.join(WORK, "server.log"), "a")
    server = subprocess.Popen(
        [BIN, "serve", os.path.join(WORK, "db"), "--set", "api.bind_address=127.0.0.1",
         "--set", "api.rest_port=%d" % PORT, "--set", "api.grpc_port=%d" % PORT,
         "--set", "observability.metrics_enabled=false",
         "--set", "api.auth_token_env=GRPC_TEST_TOKEN",
         "--set", "container.graceful_shutdown_timeout_seconds=5",
         "--set", "schema.auto_generate_grpc=true"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return
        except OSError:
            if server.poll() is not None:
                fail("the server exited at start")
            time.sleep(0.1)
    fail("the server did not listen within 10 s")


def stop(sig=signal.SIGTERM):
    """Sends `sig` (None: none, it was sent already) and waits for the exit status."""
    global server
    if server is None:
        return 0
    if sig is not None and server.poll() is None:
        server.send_signal(sig)
    try:
        rc = server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        rc = server.wait()
    server = None
    return rc


# message classes from the .proto files
gen = os.path.join(WORK, "gen")
os.makedirs(gen)
subprocess.run(["protoc", "-I", PROTO_DIR, "--python_out=" + gen, "heliosdb.proto",
                "health.proto", "reflection.proto"], check=True)
sys.path.insert(0, gen)
import grpc  # noqa: E402
import heliosdb_pb2 as pb  # noqa: E402
import health_pb2  # noqa: E402
import reflection_pb2  # noqa: E402

start()
channel = grpc.insecure_channel(ADDR)
md = [("authorization", "Bearer " + TOKEN)]


def unary(method, req, resp_cls, metadata=md, timeout=5):
    call = channel.unary_unary(method, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=resp_cls.FromString)
    return call(req, metadata=metadata, timeout=timeout)


def expect_code(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except grpc.RpcError as e:
        if e.code() != code:
            fail("expected %s, got %s: %s" % (code, e.code(), e.details()))
        return e.details()
    fail("expected %s, the call succeeded" % code)


DB = "/heliosdb.v1.Database/"


def execute(sql, *params, **kw):
    vals = []
    for p in params:
        v = pb.Value()
        if p is None:
            v.null = True
        elif isinstance(p, bool):
            v.integer = int(p)
        elif isinstance(p, int):
            v.integer = p
        elif isinstance(p, float):
            v.real = p
        elif isinstance(p, bytes):
            v.blob = p
        else:
            v.text = p
        vals.append(v)
    return unary(DB + "Execute", pb.ExecuteRequest(sql=sql, params=vals), pb.ExecuteResponse, **kw)


def value_of(v):
    kind = v.WhichOneof("kind")
    return None if kind in (None, "null") else getattr(v, kind)


# health, without a token
h = unary("/grpc.health.v1.Health/Check", health_pb2.HealthCheckRequest(service=""),
          health_pb2.HealthCheckResponse, metadata=None)
if h.status != health_pb2.HealthCheckResponse.SERVING:
    fail("health: %s" % h)
ok("health Check SERVING without a token")
expect_code(grpc.StatusCode.NOT_FOUND, unary, "/grpc.health.v1.Health/Check",
            health_pb2.HealthCheckRequest(service="nope"), health_pb2.HealthCheckResponse)
ok("health Check of an unknown service: NOT_FOUND")
expect_code(grpc.StatusCode.UNAUTHENTICATED, execute, "SELECT 1", metadata=None)
ok("Execute without a token: UNAUTHENTICATED")

execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "amount DECIMAL(10,2), score REAL, data BLOB)")
r = execute("INSERT INTO t (name, amount, score, data) VALUES (?, ?, ?, ?)",
            "alice", "12.50", 1.5, b"\x00\x01")
if r.last_insert_id != 1 or r.rows_affected != 1:
    fail("insert: %s" % r)
r = execute("SELECT id, name, amount, score, data, NULL FROM t")
row = [value_of(v) for v in r.rows[0].values]
if list(r.columns) != ["id", "name", "amount", "score", "data", "NULL"] or \
        row != [1, "alice", "12.50", 1.5, b"\x00\x01", None]:
    fail("select: %s %s" % (list(r.columns), row))
ok("Execute: CREATE, INSERT with typed params, SELECT with typed values")

expect_code(grpc.StatusCode.INVALID_ARGUMENT, execute, "SELEC 1")
expect_code(grpc.StatusCode.FAILED_PRECONDITION, execute,
            "INSERT INTO t (name) VALUES ('alice')")
expect_code(grpc.StatusCode.UNIMPLEMENTED, unary, DB + "Nope", pb.ExecuteRequest(),
            pb.ExecuteResponse)
ok("errors: INVALID_ARGUMENT, FAILED_PRECONDITION, UNIMPLEMENTED")

execute("INSERT INTO t (name) SELECT 'n' || n FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
        "SELECT n + 1 FROM c WHERE n < 1199) SELECT n FROM c)")
q = channel.unary_stream(DB + "Query", request_serializer=lambda m: m.SerializeToString(),
                         response_deserializer=pb.QueryBatch.FromString)
batches = list(q(pb.ExecuteRequest(sql="SELECT id FROM t ORDER BY id"), metadata=md, timeout=10))
sizes = [len(b.rows) for b in batches]
if sizes != [500, 500, 200] or list(batches[0].columns) != ["id"] or batches[1].columns:
    fail("Query batches: %s" % sizes)
ok("Query: 1,200 rows in batches of 500, 500, 200")

b = pb.BatchRequest(statements=[pb.ExecuteRequest(sql="UPDATE t SET score = 2 WHERE id = 1"),
                                pb.ExecuteRequest(sql="INSERT INTO t (name) VALUES ('bob')")])
unary(DB + "Batch", b, pb.BatchResponse)
bad = pb.BatchRequest(statements=[pb.ExecuteRequest(sql="INSERT INTO t (name) VALUES ('carol')"),
                                  pb.ExecuteRequest(sql="INSERT INTO t (name) VALUES ('bob')")])
expect_code(grpc.StatusCode.FAILED_PRECONDITION, unary, DB + "Batch", bad, pb.BatchResponse)
r = execute("SELECT count(*) FROM t WHERE name IN ('bob', 'carol')")
if value_of(r.rows[0].values[0]) != 1:
    fail("batch rollback")
ok("Batch: commits, and rolls back whole on a UNIQUE violation")

tx = channel.stream_stream(DB + "Transaction", request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=pb.TransactionResponse.FromString)
msgs = [pb.TransactionRequest(execute=pb.ExecuteRequest(sql="INSERT INTO t (name) VALUES ('dave')")),
        pb.TransactionRequest(execute=pb.ExecuteRequest(sql="SELECT count(*) FROM t WHERE name = 'dave'")),
        pb.TransactionRequest(commit=True)]
answers = list(tx(iter(msgs), metadata=md, timeout=10))
if len(answers) != 3 or not answers[2].committed or \
        value_of(answers[1].executed.rows[0].values[0]) != 1:
    fail("transaction: %s" % answers)
msgs = [pb.TransactionRequest(execute=pb.ExecuteRequest(sql="INSERT INTO t (name) VALUES ('erin')")),
        pb.TransactionRequest(rollback=True)]
answers = list(tx(iter(msgs), metadata=md, timeout=10))
r = execute("SELECT count(*) FROM t WHERE name IN ('dave', 'erin')")
if value_of(r.rows[0].values[0]) != 1:
    fail("transaction commit/rollback: %s" % r)
ok("Transaction: commit keeps, rollback drops")

snap = unary(DB + "CreateSnapshot", pb.CreateSnapshotRequest(), pb.Snapshot)
lst = unary(DB + "ListSnapshots", pb.ListSnapshotsRequest(), pb.ListSnapshotsResponse)
if snap.id == 0 or snap.id not in [s.id for s in lst.snapshots]:
    fail("snapshots: %s %s" % (snap, lst))
ok("CreateSnapshot and ListSnapshots")

try:
    execute("SELECT count(*) FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
            "WHERE n < 100000000) SELECT n FROM c)", timeout=0.2)
    fail("a 0.2 s deadline on a long query passed")
except grpc.RpcError as e:
    if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
        fail("deadline: %s %s" % (e.code(), e.details()))
execute("SELECT 1")
ok("a deadline cancels a long statement; the server goes on")

refl = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
resp = list(refl(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=md,
                 timeout=5))
names = sorted(s.name for s in resp[0].list_services_response.service)
if "heliosdb.v1.Database" not in names or "grpc.health.v1.Health" not in names:
    fail("reflection services: %s" % names)
resp = list(refl(iter([reflection_pb2.ServerReflectionRequest(
    file_containing_symbol="heliosdb.v1.Database")]), metadata=md, timeout=5))
files = resp[0].file_descriptor_response.file_descriptor_proto
if not files or b"heliosdb.v1" not in files[0]:
    fail("reflection file_containing_symbol")
ok("reflection: list_services and file_containing_symbol")

# The per-table services generated from the catalog ([schema] auto_generate_grpc): the file by
# reflection, loaded into a DescriptorPool, dynamic message classes, then TService's methods.
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402

resp = list(refl(iter([reflection_pb2.ServerReflectionRequest(
    file_containing_symbol="heliosdb.tables.v1.TService")]), metadata=md, timeout=5))
files = resp[0].file_descriptor_response.file_descriptor_proto
if len(files) != 1:
    fail("reflection of heliosdb.tables.v1.TService: %s" % resp[0])
pool = descriptor_pool.DescriptorPool()
pool.Add(descriptor_pb2.FileDescriptorProto.FromString(files[0]))
factory = message_factory.MessageFactory(pool)


def table_class(name):
    d = pool.FindMessageTypeByName("heliosdb.tables.v1." + name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(d)
    return factory.GetPrototype(d)


T, TKey = table_class("T"), table_class("TKey")
TListRequest, TList = table_class("TListRequest"), table_class("TList")
TS = "/heliosdb.tables.v1.TService/"
created = unary(TS + "Create", T(name="gen-1", amount="7.25", score=2.5, data=b"\x02"), T)
if not created.HasField("id") or created.id < 1 or created.name != "gen-1" or \
        created.amount != "7.25" or created.score != 2.5 or created.data != b"\x02":
    fail("TService/Create: %s" % created)
got = unary(TS + "Get", TKey(id=created.id), T)
if got != created:
    fail("TService/Get: %s != %s" % (got, created))
bare = unary(TS + "Create", T(name="gen-2"), T)
if bare.HasField("amount") or bare.HasField("score") or bare.id <= created.id:
    fail("TService/Create with NULLs: %s" % bare)
updated = unary(TS + "Update", T(id=bare.id, score=9.0), T)
if updated.score != 9.0 or updated.name != "gen-2":
    fail("TService/Update: %s" % updated)
expect_code(grpc.StatusCode.NOT_FOUND, unary, TS + "Get", TKey(id=10 ** 9), T)
expect_code(grpc.StatusCode.FAILED_PRECONDITION, unary, TS + "Create", T(name="gen-1"), T)
total = execute("SELECT count(*) FROM t").rows[0].values[0].integer
seen, token, pages = [], "", 0
while pages < 100:
    page = unary(TS + "List", TListRequest(page_size=500, page_token=token), TList)
    seen += [r.id for r in page.rows]
    pages += 1
    token = page.next_page_token
    if not token:
        break
if len(seen) != total or seen != sorted(seen) or created.id not in seen:
    fail("TService/List: %s rows in %d pages, %d in the table" % (seen, pages, total))
unary(TS + "Delete", TKey(id=bare.id), table_class("TDeleted"))
unary(TS + "Delete", TKey(id=created.id), table_class("TDeleted"))  # t as it was
expect_code(grpc.StatusCode.NOT_FOUND, unary, TS + "Delete", TKey(id=bare.id),
            table_class("TDeleted"))
ok("generated TService: reflection into a DescriptorPool, Create, Get, Update, List, Delete")

# REST over HTTP/2: curl with prior knowledge and with Upgrade: h2c; a bounded h2load run
for flag in ("--http2-prior-knowledge", "--http2"):
    out = subprocess.run(["curl", "-s", "-m", "5", flag, "-w", "%{http_version} %{http_code}",
                          "http://%s/health" % ADDR], capture_output=True, text=True)
    if not out.stdout.endswith("2 200") or '"status":"ok"' not in out.stdout:
        fail("curl %s: %r" % (flag, out.stdout))
out = subprocess.run(["curl", "-s", "-m", "5", "--http2-prior-knowledge", "-X", "POST",
                      "-H", "Authorization: Bearer " + TOKEN, "-H", "Content-Type: application/json",
                      "-d", '{"sql": "SELECT count(*) FROM t"}', "http://%s/v1/_sql" % ADDR],
                     capture_output=True, text=True)
if '"rows":[[1202]]' not in out.stdout:
    fail("REST over h2c: %r" % out.stdout)
ok("REST over h2c: prior knowledge, Upgrade: h2c, POST /v1/_sql")
out = subprocess.run(["h2load", "-n", "4000", "-c", "4", "-m", "16", "-t", "1",
                      "http://%s/health" % ADDR], capture_output=True, text=True, timeout=60)
if "4000 succeeded" not in out.stdout:
    fail("h2load: %s" % out.stdout)
ok("h2load: 4,000 requests over 4 connections x 16 streams, all succeeded")

# /metrics counts gRPC answers by method and status code
import urllib.request  # noqa: E402
req = urllib.request.Request("http://127.0.0.1:%d/metrics" % PORT,
                             headers={"Authorization": "Bearer " + TOKEN})
text = urllib.request.urlopen(req, timeout=5).read().decode()
for want in ['route="/heliosdb.v1.Database/Execute",status="OK"}',
             'route="/heliosdb.v1.Database/Execute",status="INVALID_ARGUMENT"}',
             'route="/grpc.health.v1.Health/Check",status="OK"}',
             'route="/grpc.reflection/ServerReflectionInfo",status="OK"}',
             'route="other",status="UNIMPLEMENTED"}']:
    if 'heliosdb_route_requests_total{protocol="grpc",' + want not in text:
        fail("/metrics lacks %s:\n%s" % (want, [ln for ln in text.splitlines() if "route" in ln]))
ok("/metrics: gRPC answers by method and status code")

# Watch: SERVING now; NOT_SERVING once SIGTERM comes; the server then exits 0
watch = channel.unary_stream("/grpc.health.v1.Health/Watch",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=health_pb2.HealthCheckResponse.FromString)
it = watch(health_pb2.HealthCheckRequest(service=""), timeout=15)
first = next(it)
if first.status != health_pb2.HealthCheckResponse.SERVING:
    fail("watch first: %s" % first)
server.send_signal(signal.SIGTERM)
seen = []
try:
    for m in it:
        seen.append(m.status)
except grpc.RpcError:
    pass
if health_pb2.HealthCheckResponse.NOT_SERVING not in seen:
    fail("watch during shutdown saw %s" % seen)
rc = stop(None)  # a second SIGTERM would mean "exit at once"
if rc != 0:
    fail("SIGTERM: exit status %s" % rc)
ok("health Watch: SERVING, then NOT_SERVING on SIGTERM; exit 0")
channel.close()

# heliosdb proto: the generated services as a .proto that protoc accepts
out = subprocess.run([BIN, "proto", os.path.join(WORK, "db")], capture_output=True, text=True,
                     timeout=60)
if out.returncode != 0 or "service TService" not in out.stdout:
    fail("heliosdb proto: %s %s" % (out.returncode, out.stderr))
os.makedirs(os.path.join(WORK, "protoout"))
with open(os.path.join(WORK, "heliosdb_tables.proto"), "w") as f:
    f.write(out.stdout)
subprocess.run(["protoc", "-I", WORK, "--python_out=" + os.path.join(WORK, "protoout"),
                "heliosdb_tables.proto"], check=True, timeout=60)
ok("heliosdb proto prints the generated services; protoc compiles them")
shutil.rmtree(WORK, ignore_errors=True)
print("ok: all")
