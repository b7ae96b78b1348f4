#!/usr/bin/env bash
# Demo: builds logpipe, runs pipelines/demo.toml over the fixtures (NGINX access log and JSON
# application log) into Elasticsearch, then shows what arrived: per index the number of
# documents, how many of them are parse failures, and a sample document.
#
# Needs the Rust toolchain and Python 3. Uses the local server of scripts/es-local.sh (started
# here and stopped again at the end when it was not running before), or the cluster in ES_URL.
# The demo's own indices (logs-nginx.access-*, logs-app.json-*) are deleted first so the counts
# are exact; on a cluster given by ES_URL that only happens with DEMO_RESET=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CONFIG=pipelines/demo.toml
DATA_DIR=.local/demo-data
RUN_LOG=.local/demo-logpipe.log
BIN=target/release/logpipe
# What pipelines/demo.toml reads, as PARSER:ENVELOPE:FILE (the same parser per file as the
# pipeline), and the indices it writes (default index template `logs-{event.dataset}-%Y.%m.%d`).
FIXTURE_SETS=(
    nginx_access::fixtures/nginx/access.log
    nginx_error::fixtures/nginx/error.log
    json::fixtures/app/app.json
    postgresql::fixtures/postgresql/postgresql.log
    postgresql::fixtures/postgresql/postgresql.csv
    postgresql::fixtures/postgresql/postgresql.json
    syslog::fixtures/syslog/syslog.log
    nginx_access:docker:fixtures/containers/docker-nginx.log
)
FIXTURES=()
for set in "${FIXTURE_SETS[@]}"; do FIXTURES+=("${set##*:}"); done
DEMO_INDICES="logs-nginx.access-*,logs-nginx.error-*,logs-app.json-*,logs-postgresql.log-*,logs-system.syslog-*"
WAIT_SECS="${DEMO_TIMEOUT:-60}"

say() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'demo.sh: error: %s\n' "$*" >&2
    exit 1
}

STARTED_SERVER=""
LOGPIPE_PID=""
cleanup() {
    local rc=$?
    trap - EXIT
    if [[ -n "$LOGPIPE_PID" ]] && kill -0 "$LOGPIPE_PID" 2>/dev/null; then
        kill -TERM "$LOGPIPE_PID" 2>/dev/null || true
        wait "$LOGPIPE_PID" 2>/dev/null || true
    fi
    if [[ -n "$STARTED_SERVER" ]]; then
        say "stopping the local server"
        scripts/es-local.sh stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_run_log() {
    if [[ -s "$RUN_LOG" ]]; then
        printf -- '---- last lines of %s ----\n' "$RUN_LOG" >&2
        tail -n 40 "$RUN_LOG" >&2
        printf -- '---- end ----\n' >&2
    fi
}

# Elasticsearch requests and JSON handling (python3 is always there; jq may not be).
# Usage: es COMMAND ARGS...; ES_URL from the environment (user:password@ in it is honoured).
es() {
    python3 - "$@" <<'PY'
import base64, json, os, sys, urllib.error, urllib.parse, urllib.request

ES = os.environ["ES_URL"]

def request(method, path, body=None):
    url = urllib.parse.urlsplit(ES)
    headers = {"Content-Type": "application/json"}
    if url.username is not None:
        cred = f"{urllib.parse.unquote(url.username)}:{urllib.parse.unquote(url.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    netloc = url.hostname + (f":{url.port}" if url.port else "")
    base = urllib.parse.urlunsplit((url.scheme, netloc, url.path.rstrip("/"), "", ""))
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, OSError) as e:
        sys.exit(f"demo.sh: {method} {base}/{path}: {getattr(e, 'reason', e)}")

def indices(pattern):
    status, v = request("GET", f"_cat/indices/{pattern}?format=json&h=index")
    if status != 200 or not isinstance(v, list):
        return []
    return sorted(i["index"] for i in v)

def count(pattern, query=None):
    status, v = request("POST", f"{pattern}/_count", {"query": query} if query else None)
    return v.get("count", 0) if status == 200 and isinstance(v, dict) else 0

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "indices":
    print("\n".join(indices(args[0])))
elif cmd == "delete":
    for name in args:
        status, v = request("DELETE", urllib.parse.quote(name))
        if status not in (200, 404):
            sys.exit(f"DELETE {name}: HTTP {status}: {v}")
elif cmd == "count":
    request("POST", f"{args[0]}/_refresh")
    print(count(args[0]))
elif cmd == "report":
    pattern = args[0]
    request("POST", f"{pattern}/_refresh")
    names = indices(pattern)
    rows = [(n, count(n), count(n, {"term": {"tags": "_parse_failure"}})) for n in names]
    width = max([len("index")] + [len(n) for n in names])
    print(f"{'index':<{width}}  {'documents':>9}  {'parse failures':>14}")
    for n, c, f in rows:
        print(f"{n:<{width}}  {c:>9}  {f:>14}")
    print(f"{'total':<{width}}  {sum(r[1] for r in rows):>9}  {sum(r[2] for r in rows):>14}")
    for n in names:
        status, v = request("GET", f"{n}/_search?size=1")
        hits = (v or {}).get("hits", {}).get("hits", []) if status == 200 else []
        print(f"\nsample document of {n}:")
        print(json.dumps(hits[0]["_source"], indent=2, ensure_ascii=False) if hits else "(none)")
else:
    sys.exit(f"unknown command {cmd}")
PY
}

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3"

say "building logpipe (cargo build --release)"
cargo build --release || die "cargo build --release failed"

EXTERNAL=""
if [[ -n "${ES_URL:-}" ]]; then
    EXTERNAL=1
    say "using the cluster in ES_URL: $ES_URL"
else
    scripts/es-local.sh url >/dev/null 2>&1 || STARTED_SERVER=1
    ES_URL="$(scripts/es-local.sh start)" || die "could not start the local server (scripts/es-local.sh start)"
    say "using the local server at $ES_URL"
fi
export ES_URL

say "resetting demo state: $DATA_DIR and indices $DEMO_INDICES"
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"
mapfile -t OLD < <(es indices "$DEMO_INDICES")
if ((${#OLD[@]} > 0)); then
    if [[ -n "$EXTERNAL" && "${DEMO_RESET:-}" != 1 ]]; then
        die "$ES_URL already has demo indices (${OLD[*]}): set DEMO_RESET=1 to delete them first"
    fi
    es delete "${OLD[@]}"
fi
# Records, not lines: multi-line entries and partial container lines count once. logpipe's own
# `parse` assembles them exactly as the pipeline does, so it gives the number to wait for.
EXPECTED=0
for set in "${FIXTURE_SETS[@]}"; do
    IFS=: read -r parser envelope file <<<"$set"
    n="$("$BIN" parse --format "$parser" ${envelope:+--envelope "$envelope"} <"$file" | wc -l)"
    EXPECTED=$((EXPECTED + n))
done

say "running $BIN --data-dir $DATA_DIR run -c $CONFIG (log: $RUN_LOG)"
"$BIN" --data-dir "$DATA_DIR" run -c "$CONFIG" >"$RUN_LOG" 2>&1 &
LOGPIPE_PID=$!

say "waiting for all $EXPECTED fixture records to be indexed (up to ${WAIT_SECS}s)"
deadline=$((SECONDS + WAIT_SECS))
indexed=0
while :; do
    indexed="$(es count "$DEMO_INDICES")"
    ((indexed >= EXPECTED)) && break
    if ! kill -0 "$LOGPIPE_PID" 2>/dev/null; then
        wait "$LOGPIPE_PID" && rc=0 || rc=$?
        LOGPIPE_PID=""
        show_run_log
        die "logpipe exited (code $rc) with $indexed of $EXPECTED documents indexed"
    fi
    if ((SECONDS >= deadline)); then
        show_run_log
        die "only $indexed of $EXPECTED documents indexed after ${WAIT_SECS}s"
    fi
    sleep 1
done
say "$indexed documents indexed; stopping logpipe (SIGTERM)"
kill -TERM "$LOGPIPE_PID" 2>/dev/null || true
# logpipe drains what is in flight within its grace period (30 s by default).
for _ in $(seq 1 600); do
    kill -0 "$LOGPIPE_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$LOGPIPE_PID" 2>/dev/null; then
    kill -KILL "$LOGPIPE_PID" 2>/dev/null || true
    show_run_log
    die "logpipe did not exit within 60s of SIGTERM"
fi
wait "$LOGPIPE_PID" && rc=0 || rc=$?
LOGPIPE_PID=""
if ((rc != 0)); then
    show_run_log
    die "logpipe exited with code $rc after SIGTERM (expected 0)"
fi

echo
es report "$DEMO_INDICES"
echo
if ((indexed > EXPECTED)); then
    say "warning: $indexed documents for $EXPECTED records: some were indexed twice"
fi
say "done: $EXPECTED records from ${FIXTURES[*]} -> $ES_URL (logpipe log: $RUN_LOG)"
