#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md.
#   scripts/bench.sh            parser benches (criterion) + end-to-end pipeline throughput
#   scripts/bench.sh --peers    also rsyslog and syslog-ng on the same input (installs them with apt-get)
# LINES=N sets the size of the generated NGINX log (default 1,000,000).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lines=${LINES:-1000000}
work="$root/.local/bench"
mkdir -p "$work"

echo "== machine"
echo "cores: $(nproc)  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

echo "== parser benches (criterion, one thread)"
cargo bench --bench parsers -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^[a-z_]+/|thrpt:" || true

echo "== end to end: $lines generated NGINX lines, stdin -> parse -> NDJSON file"
input="$work/access-$lines.log"
[ -s "$input" ] || python3 ../shared/bench/gen_nginx.py "$lines" 42 > "$input"
cargo build --release --quiet
cat > "$work/stdin-to-file.toml" <<TOML
[[inputs]]
type = "stdin"
parser = "nginx_access"

[output.file]
path = "$work/out.ndjson"
TOML
for workers in 1 2; do
  rm -f "$work/out.ndjson"; rm -rf "$work/data"
  printf '[pipeline]\nworkers = %s\n' "$workers" > "$work/p.toml"
  cat "$work/stdin-to-file.toml" >> "$work/p.toml"
  start=$(date +%s.%N)
  /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB peak RSS" \
    target/release/logpipe --data-dir "$work/data" run -c "$work/p.toml" < "$input" 2> "$work/time.txt" || { cat "$work/time.txt"; exit 1; }
  end=$(date +%s.%N)
  got=$(wc -l < "$work/out.ndjson")
  rate=$(python3 -c "print(f'{$got/($end-$start):,.0f}')")
  echo "workers=$workers lines=$got lines/s=$rate  $(tail -n1 "$work/time.txt")"
done

if [ "${1:-}" = "--peers" ]; then
  echo "== peers (same input)"
  if ! command -v rsyslogd >/dev/null || ! command -v syslog-ng >/dev/null; then
    apt-get update -qq && apt-get install -y -qq rsyslog liblognorm5 rsyslog-mmnormalize syslog-ng-core syslog-ng-scl syslog-ng-mod-json >/dev/null
  fi
  bash ../shared/bench/run_rsyslog.sh "$input" "$work/rsyslog" || true
  bash ../shared/bench/run_syslog_ng.sh "$input" "$work/syslog-ng" || true
fi
