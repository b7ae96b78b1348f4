#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md.
#   scripts/bench.sh            parser benches (criterion) + end-to-end pipeline throughput
#                               + `logpipe reprocess` of the same log gzip-compressed, 1 and 2 threads
#   scripts/bench.sh --peers    also rsyslog and syslog-ng on the same input (installs them with apt-get)
# LINES=N sets the size of the generated NGINX log (default 1,000,000).
# ONLY=reprocess (or parsers, e2e, chain) runs that section alone; RUNS=N repeats each reprocess run.
# ONLY=chain: the enrich -> anonymize -> tag chain (issue 5) by stage, in time and, under
# callgrind (valgrind, installed with apt-get when missing), in instructions per event.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lines=${LINES:-1000000}
work="$root/.local/bench"
mkdir -p "$work"

echo "== machine"
echo "cores: $(nproc)  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

only=${ONLY:-}
want() { [ -z "$only" ] || [ "$only" = "$1" ]; }

if want parsers; then
echo "== parser benches (criterion, one thread)"
cargo bench --bench parsers -- --warm-up-time 1 --measurement-time 3 2>&1 | grep -E "^[a-z_]+/|thrpt:" || true
fi

if want chain; then
echo "== chain by stage (benches/chain_stages.rs, one thread), time"
cargo bench --bench chain_stages 2>&1 | grep -vE "^ *(Compiling|Finished|Running)" || true
if [ "$only" = chain ]; then
  echo "== chain by stage, instructions per event (callgrind)"
  command -v valgrind >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq valgrind >/dev/null; }
  bin=$(cargo bench --bench chain_stages --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "chain_stages" and m.get("executable"):
        print(m["executable"])')
  count() { # $1: mode, $2: iterations -> instructions of the whole run
    MODE=$1 N=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" 2>&1 \
      | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'
  }
  # 2,000 iterations of the four lines; the setup's cost cancels out in the differences.
  parse=$(( ($(count parse 4000) - $(count parse 2000)) / 8000 ))
  parsed=$(count parsed 2000)
  echo "parse (Event::new + NGINX parse): $parse"
  for mode in enrich anonymize tag chain; do
    stage=$(( ($(count $mode 2000) - parsed) / 8000 ))
    echo "$mode: $stage ($(python3 -c "print(f'{$stage/$parse:.2f}')") x the parse)"
  done
  # Lines never seen (4,096 per pass): the parse from the difference of two and one passes,
  # the chain from two passes with it less two without.
  parse_two=$(count parse_unseen 2)
  unseen_parse=$(( (parse_two - $(count parse_unseen 1)) / 4096 ))
  unseen=$(( ($(count chain_unseen 2) - parse_two) / 8192 ))
  echo "lines never seen: parse $unseen_parse, chain $unseen ($(python3 -c "print(f'{$unseen/$unseen_parse:.2f}')") x their parse)"
fi
fi

input="$work/access-$lines.log"
[ -s "$input" ] || python3 ../shared/bench/gen_nginx.py "$lines" 42 > "$input"
cargo build --release --quiet
if want e2e; then
echo "== end to end: $lines generated NGINX lines, stdin -> parse -> NDJSON file"
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
fi

if want reprocess; then
echo "== reprocess: $lines generated NGINX lines (.gz) -> parse (+ GeoIP, anonymization) -> NDJSON file"
# The same generated log, gzip-compressed; `logpipe reprocess` decompresses it on one thread and
# parses on the rayon pool (--threads). Each run starts with an empty data dir (no journal) and
# an empty output file; the output is synced before the process ends. The NDJSON (about 0.8 GB)
# goes to tmpfs when there is one, so the figure is logpipe's and not the disk's; RP_OUT_DIR
# sets another directory. Every configuration runs RUNS times (default 3): a shared 2-core
# machine varies by up to a quarter from one run to the next, so all runs and the median are
# printed.
gz="$work/access-$lines.log.gz"
[ -s "$gz" ] || gzip -1 -c "$input" > "$gz"
out_dir=${RP_OUT_DIR:-}
if [ -z "$out_dir" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then out_dir=/dev/shm; else out_dir="$work"; fi
fi
runs=${RUNS:-3}
rp_pipeline() { # $1: name, $2: extra TOML
  cat > "$work/reprocess-$1.toml" <<TOML
[[inputs]]
type = "file"
paths = ["$work/access-*.log*"]
parser = "nginx_access"

[output.stdout]
$2
TOML
}
rp_pipeline parse ""
variants="parse"
if [ -s geoip/test-city.mmdb ] && [ -s geoip/test-asn.mmdb ]; then
  # GeoIP City + ASN on source.ip; client addresses truncated to /24 and /48, in their fields
  # and wherever they appear in the text (the line in `message`).
  rp_pipeline enriched "$(printf '[enrich.geoip]\ncity_db = "%s/geoip/test-city.mmdb"\nasn_db = "%s/geoip/test-asn.mmdb"\n\n[anonymize]\nip = { mode = "truncate" }\n' "$root" "$root")"
  variants="parse enriched"
else
  echo "(geoip/test-*.mmdb missing: the GeoIP + anonymization variant is skipped)"
fi
echo "output: $out_dir/rp-out.ndjson, $runs runs each"
for variant in $variants; do
  for threads in 1 2; do
    rates=()
    for run in $(seq "$runs"); do
      rm -rf "$work/rp-data" "$out_dir/rp-out.ndjson"
      steal_before=$(awk '/^cpu /{print $9; exit}' /proc/stat)
      /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KiB peak RSS" \
        target/release/logpipe --data-dir "$work/rp-data" reprocess -c "$work/reprocess-$variant.toml" "$gz" \
          --output file --output-path "$out_dir/rp-out.ndjson" --threads "$threads" --progress never \
          --summary-json "$work/rp-summary.json" > /dev/null 2> "$work/time.txt" || { cat "$work/time.txt"; exit 1; }
      rate=$(python3 -c "import json; s=json.load(open('$work/rp-summary.json')); print(round(s['events_per_sec']))")
      rates+=("$rate")
      # CPU time the hypervisor gave to other guests during the run (both cores), in seconds:
      # on a shared VM the main reason one run differs from the next.
      steal=$(awk -v b="$steal_before" -v hz="$(getconf CLK_TCK)" '/^cpu /{printf "%.2f", ($9-b)/hz; exit}' /proc/stat)
      echo "reprocess $variant threads=$threads run $run: $(printf "%'d" "$rate") lines/s  $(tail -n1 "$work/time.txt"), ${steal} s stolen"
    done
    median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "reprocess $variant threads=$threads: median $(printf "%'d" "$median") lines/s"
  done
done
rm -f "$out_dir/rp-out.ndjson"
fi

if [ "${1:-}" = "--peers" ]; then
  echo "== peers (same input)"
  # Debian 12: mmnormalize ships in `rsyslog`, format-json in `syslog-ng-core`. The two
  # packages conflict (each is the system log daemon), so each is installed in turn, which
  # removes the other.
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
  apt-get update -qq
  command -v bc >/dev/null || apt_install bc
  command -v rsyslogd >/dev/null || apt_install rsyslog
  bash ../shared/bench/run_rsyslog.sh "$input" "$work/rsyslog" || true
  command -v syslog-ng >/dev/null || apt_install syslog-ng-core syslog-ng-scl
  bash ../shared/bench/run_syslog_ng.sh "$input" "$work/syslog-ng" || true
  # logpipe measured the way the peer runners measure themselves: tail the same file from its
  # start, write one JSON document per line, time until the output has every line.
  for workers in 1 2; do
    lp="$work/logpipe-peer"; rm -rf "$lp"; mkdir -p "$lp"
    cat > "$lp/p.toml" <<TOML
[pipeline]
workers = $workers

[[inputs]]
type = "file"
paths = ["$input"]
parser = "nginx_access"
start_at = "beginning"

[output.file]
path = "$lp/out.ndjson"
TOML
    n=$(wc -l < "$input")
    start=$(date +%s.%N)
    target/release/logpipe --data-dir "$lp/data" run -c "$lp/p.toml" > "$lp/log.txt" 2>&1 &
    pid=$!
    while :; do
      got=$( [ -f "$lp/out.ndjson" ] && wc -l < "$lp/out.ndjson" || echo 0)
      [ "$got" -ge "$n" ] && break
      kill -0 $pid 2>/dev/null || { echo "logpipe exited early"; cat "$lp/log.txt"; break; }
      sleep 0.1
    done
    end=$(date +%s.%N)
    cpu=$(awk '{print ($14+$15)/100}' /proc/$pid/stat)
    rss=$(awk '/VmHWM/{printf "%.0f", $2/1024}' /proc/$pid/status)
    kill $pid; wait $pid 2>/dev/null || true
    echo "logpipe workers=$workers lines=$n wall_s=$(echo "$end - $start" | bc) cpu_s=$cpu peak_rss_mib=$rss"
  done
fi
