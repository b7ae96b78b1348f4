#!/usr/bin/env bash
# A local Elasticsearch-compatible server for the tests and the demo.
#
#   scripts/es-local.sh start    start it if needed; prints its URL (only the URL) on stdout:
#                                  ES_URL=$(scripts/es-local.sh start)
#   scripts/es-local.sh stop     stop it and wait until it is gone
#   scripts/es-local.sh url      print its URL if it is running (exit 1 if not)
#   scripts/es-local.sh status   say whether it is running and answering
#
# The server is noida-db (PyPI), installed on first use into a virtualenv owned by this script
# under .local/ (git-ignored), listening on a free loopback port. State:
#   .local/noida-venv/   the virtualenv          .local/noida-data/   its data
#   .local/es.pid        pid of the server       .local/es.url        its URL
#   .local/noida.log     its output
#
# When ES_URL is set, `start` and `url` print it and do nothing else: tests and the demo then use
# that cluster instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/noida-venv"
DATA_DIR="$LOCAL/noida-data"
PID_FILE="$LOCAL/es.pid"
URL_FILE="$LOCAL/es.url"
LOG_FILE="$LOCAL/noida.log"
NOIDA_VERSION="0.2.3"
START_TIMEOUT="${ES_LOCAL_START_TIMEOUT:-60}"
# A port other people's servers use on shared machines: never pick it.
AVOID_PORT=19200

log() { echo "es-local: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    echo "usage: $0 start|stop|url|status" >&2
    exit 2
}

# Pid from the pid file when that process is alive and is a noida-db server; empty otherwise.
running_pid() {
    local pid
    [[ -s "$PID_FILE" ]] || return 0
    pid="$(<"$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    group_alive "$pid" || return 0
    # Guard against a reused pid: the group leader must be ours.
    if [[ -r "/proc/$pid/cmdline" ]] && ! grep -qa noida-db "/proc/$pid/cmdline"; then
        return 0
    fi
    echo "$pid"
}

# True when a process of group $1 is alive (zombies, which nobody may reap here, do not count).
group_alive() {
    local f line state pgrp
    for f in /proc/[0-9]*/stat; do
        { read -r line <"$f"; } 2>/dev/null || continue
        # After "PID (COMM) ": state ppid pgrp ...
        read -r state _ pgrp _ <<<"${line##*) }"
        [[ "$pgrp" == "$1" && "$state" != Z ]] && return 0
    done
    return 1
}

saved_url() {
    [[ -s "$URL_FILE" ]] && cat "$URL_FILE"
}

# True when the server at $1 answers `GET /` with 200 (curl, or python3 where curl is missing).
answers() {
    local code
    if command -v curl >/dev/null 2>&1; then
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1/" 2>/dev/null)" || return 1
        [[ "$code" == 200 ]]
    else
        python3 - "$1/" 2>/dev/null <<'PY'
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
PY
    fi
}

show_log() {
    if [[ -f "$LOG_FILE" ]]; then
        log "---- last lines of $LOG_FILE ----"
        tail -n 50 "$LOG_FILE" >&2
        log "---- end of log ----"
    fi
}

# True when the virtualenv was made at this path (its scripts hold their absolute path, so one
# made where the repository was before cannot be used).
venv_here() {
    local first=""
    [[ -f "$VENV/bin/pip" ]] && read -r first <"$VENV/bin/pip"
    [[ "$first" == "#!$VENV/bin/python"* ]]
}

have_noida() {
    [[ -x "$VENV/bin/noida-db" ]] && venv_here &&
        "$VENV/bin/python" - "$NOIDA_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if version("noida-db") == sys.argv[1] else 1)
PY
}

# Runs a command as root (directly, or through sudo when available).
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        return 1
    fi
}

install_noida() {
    have_noida && return 0
    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3"
    mkdir -p "$LOCAL"
    log "installing noida-db==$NOIDA_VERSION into $VENV"
    if [[ -d "$VENV" ]] && ! venv_here; then
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        rm -rf "$VENV"
        if ! python3 -m venv "$VENV" >&2 2>"$LOCAL/venv.err"; then
            cat "$LOCAL/venv.err" >&2
            rm -rf "$VENV"
            log "python3 venv module missing: installing python3-venv with apt-get"
            command -v apt-get >/dev/null 2>&1 ||
                die "python3 -m venv failed and apt-get is not available: install the venv module for $(python3 --version)"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 ||
                die "apt-get update failed (needs root)"
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 ||
                die "apt-get install python3-venv failed (needs root)"
            python3 -m venv "$VENV" >&2 || die "python3 -m venv $VENV failed"
        fi
        rm -f "$LOCAL/venv.err"
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "noida-db==$NOIDA_VERSION" >&2 ||
        die "pip install noida-db==$NOIDA_VERSION failed"
    have_noida || die "noida-db==$NOIDA_VERSION is not usable in $VENV after installing it"
}

free_port() {
    local port
    for _ in 1 2 3 4 5; do
        port="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()')"
        if [[ "$port" != "$AVOID_PORT" ]]; then
            echo "$port"
            return 0
        fi
    done
    die "could not find a free port"
}

# Waits until the server at $1 (pid $2) answers; fails when the timeout passes (1) or the
# server exits (2).
wait_ready() {
    local url="$1" pid="$2" deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if answers "$url"; then
            return 0
        fi
        group_alive "$pid" || {
            log "the server exited during start"
            return 2
        }
        sleep 0.25
    done
    log "the server did not answer at $url within ${START_TIMEOUT}s"
    return 1
}

# Kills the server's whole process group (the noida-db wrapper and the binary it runs).
stop_server() {
    local pid
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        log "stopping noida-db (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            group_alive "$pid" || break
            sleep 0.1
        done
        if group_alive "$pid"; then
            log "server (pid $pid) ignored SIGTERM for 10s: killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do
                group_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$PID_FILE" "$URL_FILE"
    [[ -n "$pid" ]]
}

start_server() {
    local pid url port
    pid="$(running_pid)"
    url="$(saved_url || true)"
    if [[ -n "$pid" && -n "$url" ]]; then
        if answers "$url" || wait_ready "$url" "$pid"; then
            echo "$url"
            return 0
        fi
        log "server (pid $pid) is not answering: restarting it"
        show_log
        stop_server || true
    elif [[ -n "$pid" ]]; then
        stop_server || true
    fi
    rm -f "$PID_FILE" "$URL_FILE"

    install_noida
    mkdir -p "$DATA_DIR"
    local attempt rc launcher
    for attempt in 1 2 3; do
        port="$(free_port)"
        url="http://127.0.0.1:$port"
        rm -f "$PID_FILE"
        # setsid: the server gets its own session and process group, so `stop` can end the
        # wrapper and the binary together, and a Ctrl-C in this terminal does not reach it. The
        # child writes its own pid (the group id) before exec'ing noida-db.
        # shellcheck disable=SC2016  # expanded by the inner shell
        nohup setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
            "$VENV/bin/noida-db" start --data-dir "$DATA_DIR" --host 127.0.0.1 \
            --only elasticsearch --elasticsearch-port "$port" \
            >"$LOG_FILE" 2>&1 </dev/null 9>&- &
        launcher=$!
        for _ in $(seq 1 50); do
            [[ -s "$PID_FILE" ]] && break
            sleep 0.1
        done
        pid="$(cat "$PID_FILE" 2>/dev/null || true)"
        [[ -n "$pid" ]] || pid="$launcher"
        echo "$pid" >"$PID_FILE"
        echo "$url" >"$URL_FILE"
        rc=0
        wait_ready "$url" "$pid" || rc=$?
        ((rc == 0)) && break
        show_log
        stop_server || true
        # An early exit is most likely the port taken between choosing and binding it: retry.
        if ((rc != 2 || attempt == 3)); then
            die "could not start noida-db (log: $LOG_FILE)"
        fi
        log "retrying on another port"
    done
    log "noida-db (pid $pid) answering at $url"
    echo "$url"
}

with_lock() {
    mkdir -p "$LOCAL"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCAL/es.lock"
        flock -w 120 9 || die "timed out waiting for another es-local.sh to finish"
    fi
    "$@"
}

cmd="${1:-}"
[[ $# -le 1 ]] || usage
case "$cmd" in
start)
    if [[ -n "${ES_URL:-}" ]]; then
        echo "$ES_URL"
        exit 0
    fi
    with_lock start_server
    ;;
stop)
    if with_lock stop_server; then
        log "stopped"
    else
        log "not running"
    fi
    ;;
url)
    if [[ -n "${ES_URL:-}" ]]; then
        echo "$ES_URL"
        exit 0
    fi
    pid="$(running_pid)"
    url="$(saved_url || true)"
    [[ -n "$pid" && -n "$url" ]] || exit 1
    echo "$url"
    ;;
status)
    pid="$(running_pid)"
    url="$(saved_url || true)"
    if [[ -z "$pid" ]]; then
        echo "not running"
        exit 1
    fi
    if answers "$url"; then
        echo "running: pid $pid, $url"
    else
        echo "running but not answering: pid $pid, $url (log: $LOG_FILE)"
        exit 1
    fi
    ;;
*) usage ;;
esac
