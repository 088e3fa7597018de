#!/usr/bin/env bash
# Instructions per page of patients, counted by valgrind (callgrind): a
# figure that does not move with what else the machine is doing, for
# comparing two builds on a shared machine where CPU time per request
# varies by a third from run to run.
#
#   tools/instructions.sh BINARY WORKLOAD [DATABASE_URL]
#
# BINARY is a release build of `hersys`; WORKLOAD one of the load
# benchmark's page workloads: a, f or g. The database is one seeded with
# `hersys-tools seed-synthetic` (default: hersys_100k on the local
# PostgreSQL). The gateway runs under callgrind with instrumentation off;
# one short run of `hersys-tools bench load --url` warms it up (and writes
# the benchmark's accounts), then instrumentation is switched on for a
# 15-second run of 4 workers. The pages answered are read from
# `hersys_patient_lists_total`; the password hashing of the benchmark's
# sign-in is left out of the count.
set -euo pipefail

binary=${1:?usage: tools/instructions.sh BINARY a|f|g [DATABASE_URL]}
workload=${2:?usage: tools/instructions.sh BINARY a|f|g [DATABASE_URL]}
database=${3:-postgres://postgres@127.0.0.1/hersys_100k?sslmode=disable}
case "$workload" in a | f | g) ;; *) echo "workload must be a, f or g (a page of patients)" >&2; exit 2 ;; esac
command -v valgrind > /dev/null || { echo "valgrind is needed (Debian package valgrind)" >&2; exit 2; }
target=${CARGO_TARGET_DIR:-target}
tools=${HERSYS_TOOLS:-$target/release/hersys-tools}
[ -x "$tools" ] || { echo "no $tools: cargo build --release -p hersys-tools (or set HERSYS_TOOLS)" >&2; exit 2; }
# The gateway refuses a HERSYS_ variable it does not know.
unset HERSYS_TOOLS

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$database HERSYS_RATE_LIMIT_ADDRESS=0 HERSYS_RATE_LIMIT_ACCOUNT=0 RUST_LOG=warn \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
    "$binary" serve --addr "127.0.0.1:$port" > "$work/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2> /dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 180); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break
    sleep 1
done

pages() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^hersys_patient_lists_total/ { n += $2 } END { print n + 0 }'; }
run() {
    "$tools" bench load --url "http://127.0.0.1:$port" --gateway-pid "$gateway" --database-url "$database" \
        --only "$workload" --concurrency 4 "$@" > "$work/bench.txt" 2>&1 \
        || { cat "$work/bench.txt" "$work/gateway.log" >&2; exit 1; }
}
run --duration 5 --warmup 1
before=$(pages)
callgrind_control -i on "$gateway" > /dev/null 2>&1
run --duration 15 --warmup 0
callgrind_control -i off "$gateway" > /dev/null 2>&1
after=$(pages)
callgrind_control -d "$gateway" > /dev/null 2>&1
sleep 2

summary=$(callgrind_annotate --threshold=100 "$work/callgrind.out.1")
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' <<< "$summary")
hashing=$(awk '/argon2|blake2/ { gsub(",", "", $1); n += $1 } END { print n + 0 }' <<< "$summary")
count=$((after - before))
[ "$count" -gt 0 ] || { echo "no page was answered" >&2; exit 1; }
echo "$(basename "$binary") ($workload): $count pages, $(( (total - hashing) / count )) instructions per page" \
    "($total in all, $hashing of them the sign-in's password hashing, left out)"
