#!/usr/bin/env bash
# The whole benchmark in one command: our server and Helios HFS, each on SQLite and PostgreSQL,
# the same workloads on the same data in the same run, then BENCHMARKS.md and bench/plots/.
#
#   bash bench/run.sh                      # everything (about an hour, plus HFS's first build)
#   FHIR_BENCH_TARGETS=ours-sqlite,hfs-sqlite bash bench/run.sh --seconds 5
#   bash bench/run.sh --help               # the settings of `fhir-bench run`
#
# Environment: FHIR_BENCH_TARGETS (default: all four), HFS_BIN (an hfs binary to use instead of
# installing one into target/hfs), SYNTHEA_DIR (default ../shared/data/synthea-blaze).
# Extra arguments go to `fhir-bench run`. Needs bzip2, tar, python3 and PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--help" ]; then
  cargo run --quiet --release -p fhir-bench -- run --help
  exit 0
fi

targets=${FHIR_BENCH_TARGETS:-ours-sqlite,ours-postgres,hfs-sqlite,hfs-postgres}
cargo build --release -p fhir-server -p fhir-bench

hfs_root=target/hfs
hfs_bin=${HFS_BIN:-$hfs_root/bin/hfs}
if [[ "$targets" == *hfs* ]]; then
  if [ ! -x "$hfs_bin" ]; then
    echo "installing Helios HFS 0.2.7 into $hfs_root (a long build: about an hour on 2 cores)"
    cargo install helios-hfs --version 0.2.7 --locked --features postgres \
      --root "$hfs_root" --target-dir "$hfs_root/build"
    hfs_bin=$hfs_root/bin/hfs
  fi
  # HFS reads the R4 search parameters from its data directory: the spec's search-parameters.json.
  # And the compartment definitions (for $everything) as one Bundle.
  if [ ! -s "$hfs_root/data/compartment-definitions-r4.json" ]; then
    mkdir -p "$hfs_root/data"
    package=../shared/data/fhir-r4/hl7.fhir.r4.examples-4.0.1.tgz
    tar -xzf "$package" -O package/Bundle-searchParams.json > "$hfs_root/data/search-parameters-r4.json"
    tar -tzf "$package" | grep -E '^package/CompartmentDefinition-[a-z]+\.json$' \
      | xargs tar -xzf "$package" -C "$hfs_root/data" --strip-components=1
    python3 - "$hfs_root/data" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
files = sorted(glob.glob(os.path.join(d, "CompartmentDefinition-*.json")))
files_all = files
files = [f for f in files if not f.endswith("-example.json")]
entries = [{"resource": json.load(open(f))} for f in files]
json.dump({"resourceType": "Bundle", "type": "collection", "entry": entries},
          open(os.path.join(d, "compartment-definitions-r4.json"), "w"))
for f in files_all:
    os.remove(f)
PY
  fi
fi

if [[ "$targets" == *postgres* ]]; then
  # Room for both servers' connection pools; the rest are PostgreSQL 15's defaults.
  PG_EXTRA_OPTIONS="-c shared_buffers=512MB"
  # shellcheck source=../.ci/postgres.sh
  source .ci/postgres.sh
  export FHIR_BENCH_POSTGRES_URL="$PG_URL"
fi

./target/release/fhir-bench run --targets "$targets" --hfs-bin "$hfs_bin" \
  --hfs-data-dir "$hfs_root/data" --synthea-dir "${SYNTHEA_DIR:-../shared/data/synthea-blaze}" "$@"
./target/release/fhir-bench report
