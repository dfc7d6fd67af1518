#!/usr/bin/env bash
# run.sh BUILD -- what `make run` does: a private PostgreSQL cluster under
# ./var/pg (unless DATABASE_URL or PGHOST names a server), the schema, the
# demo data on first start, and the national picture.
#
# The cluster keeps running afterwards so that the CLI can be used; stop it
# with `contrib/pgcluster.sh stop var/pg`.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$top/$build/lagerbild"
cd "$top"

if [ -z "${DATABASE_URL:-}" ] && [ -z "${PGHOST:-}" ]; then
	mkdir -p var
	eval "$(contrib/pgcluster.sh start "$top/var/pg")"
	export PGHOST PGPORT PGUSER
	if ! psql -XAtq -d postgres -c "SELECT 1 FROM pg_database WHERE datname = 'lagerbild'" | grep -q 1; then
		createdb lagerbild
	fi
	export PGDATABASE=lagerbild
	using="the private cluster in var/pg"
else
	using="${DATABASE_URL:-PGHOST=$PGHOST}"
fi

"$bin" migrate
sites=$(psql -XAtq -c "SELECT count(*) FROM site")
if [ "$sites" = 0 ]; then
	echo "loading the demo data (90 days of history; this takes a little while)..." >&2
	"$bin" demo
fi
"$bin" verify

echo
echo "== Nationell lägesbild: products per category =="
"$bin" totals --by category
echo
echo "== Critical products: national stock and how many regions hold them =="
"$bin" totals --critical
echo
echo "Database: $using"
if [ -n "${PGHOST:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
	cat <<EOT
Use the CLI against it:
  export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=lagerbild
  $build/lagerbild stock show --region 01 | head
  $build/lagerbild totals --by region --product <vnr>
Stop the cluster with: contrib/pgcluster.sh stop var/pg
EOT
fi
