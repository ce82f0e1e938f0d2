#!/usr/bin/env bash
# Read-by-id throughput and latency measured with wrk (a C load generator, so the client costs
# little of the 2 cores), against the release server on SQLite, at concurrency 1, 4, 8 and 16.
# Prints wrk's figures; asserts nothing. Needs wrk (apt-get install wrk).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -p fhir-server
data=$(mktemp -d)
port=${FHIR_BENCH_PORT:-18090}
FHIR_AUTH=off RUST_LOG=warn ./target/release/fhir-server serve --data-dir "$data" --listen "127.0.0.1:$port" &
server=$!
trap 'kill $server; wait $server 2>/dev/null; rm -rf "$data"' EXIT
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.05; done
curl -sf -X PUT "http://127.0.0.1:$port/fhir/Patient/p1" -H 'Content-Type: application/fhir+json' \
  -d '{"resourceType":"Patient","id":"p1","name":[{"family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25"}' >/dev/null
for connections in 1 4 8 16; do
  threads=$(( connections < 2 ? 1 : 2 ))
  echo "== read by id, concurrency $connections"
  wrk -t"$threads" -c"$connections" -d"${FHIR_BENCH_SECONDS:-5}s" --latency "http://127.0.0.1:$port/fhir/Patient/p1" \
    | grep -E 'Requests/sec|50%|99%'
done
echo "== server RSS after the runs: $(ps -o rss= -p $server) KiB"
