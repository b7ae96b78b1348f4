#!/usr/bin/env bash
# Runs every check of the project, as CI does (.ci/run calls this):
#   formatting (rustfmt), lints (clippy, warnings are errors), and the unit, integration,
#   end-to-end and doc tests (benches run once in test mode) against an Elasticsearch-compatible server.
#
# Needs the Rust toolchain (rustup) and Python 3. The server is the local one that
# scripts/es-local.sh installs and starts, unless ES_URL names one; a server this script starts
# is stopped when it ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

STEP=""
REPORTED=""
step() {
    STEP="$*"
    printf '\n==> %s\n' "$STEP" >&2
}
fail() {
    printf '\ntest.sh: FAILED at step "%s": %s\n' "$STEP" "$*" >&2
    REPORTED=1
    exit 1
}

STARTED_SERVER=""
cleanup() {
    local rc=$?
    trap - EXIT
    if ((rc != 0)) && [[ -z "$REPORTED" ]]; then
        printf '\ntest.sh: FAILED at step "%s" (exit %d)\n' "$STEP" "$rc" >&2
    fi
    if [[ -n "$STARTED_SERVER" ]]; then
        printf '\n==> stopping the local Elasticsearch-compatible server\n' >&2
        scripts/es-local.sh stop || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- toolchain ------------------------------------------------------------------------------
step "toolchain"
command -v cargo >/dev/null 2>&1 ||
    fail "cargo not found: install the Rust toolchain (https://rustup.rs) and put ~/.cargo/bin on PATH"
command -v python3 >/dev/null 2>&1 || fail "python3 not found: install Python 3"
for component in rustfmt clippy; do
    sub="${component/rustfmt/fmt}"
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 ||
            fail "cargo $sub is missing and rustup is not available to add the $component component"
        echo "installing the $component component" >&2
        rustup component add "$component" >&2 || fail "rustup component add $component failed"
    fi
done
cargo --version >&2

# ---- static checks --------------------------------------------------------------------------
step "cargo fmt --all -- --check"
cargo fmt --all -- --check || fail "formatting differs: run 'cargo fmt --all' and commit the result"

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings || fail "clippy reported warnings or errors (see above)"

# ---- server for the integration tests ---------------------------------------------------------
step "Elasticsearch-compatible server"
if [[ -n "${ES_URL:-}" ]]; then
    echo "using ES_URL=$ES_URL" >&2
else
    # Stop the server on exit only when this script is the one that starts it.
    if ! scripts/es-local.sh url >/dev/null 2>&1; then
        STARTED_SERVER=1
    fi
    ES_URL="$(scripts/es-local.sh start)" || fail "could not start the local server (scripts/es-local.sh start)"
    echo "using the local server at $ES_URL" >&2
fi
export ES_URL

# ---- tests ----------------------------------------------------------------------------------
# --all-targets also runs each criterion bench once in test mode, so a broken bench fails here
# without paying for a release build; doc tests are not part of --all-targets.
step "cargo test --doc"
cargo test --doc || fail "doc tests failed (see above)"

step "cargo test --all-targets (unit, integration, end-to-end, benches in test mode)"
cargo test --all-targets || fail "tests failed (see above)"

printf '\ntest.sh: all checks passed\n' >&2
