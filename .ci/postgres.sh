# Sourced by .ci/run and bench/run.sh: starts a throw-away PostgreSQL 15 cluster made with
# initdb in a temporary directory, exports PG_URL (a superuser URL) and stops and removes the
# cluster on exit. Extra server settings come from PG_EXTRA_OPTIONS.
pg_bin=/usr/lib/postgresql/15/bin
if [ ! -x "$pg_bin/initdb" ]; then
  echo "installing PostgreSQL 15 server binaries"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# PostgreSQL refuses to run as root: run the cluster as the postgres user when we are root.
as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

pg_dir=$(mktemp -d /tmp/fhir-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
stop_pg() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
trap stop_pg EXIT
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=400 ${PG_EXTRA_OPTIONS:-}" start >/dev/null
export PG_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
echo "PostgreSQL cluster on port $pg_port"
