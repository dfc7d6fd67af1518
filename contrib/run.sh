#!/usr/bin/env bash
# run.sh BUILD -- what `make run` does: a private PostgreSQL cluster under
# ./var/pg (unless DATABASE_URL or PGHOST names a server), the schema, the
# demo data and demo users on first start, the national picture, and then
# the service in the foreground (Ctrl-C stops it).
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
# The readiness rollup and the alerts, current before the first request
# (the server's own sweep comes every LAGERBILD_ALERT_INTERVAL).
"$bin" alerts run

echo
echo "== Nationell lägesbild: products per category =="
"$bin" totals --by category
echo
echo "== Critical products: national stock and how many regions hold them =="
"$bin" totals --critical
# Demo users, once; fresh tokens every start (a token is shown only once).
for spec in "demo.samordnare coordinator -" "demo.kontakt.01 region_contact 01"; do
	read -r name role region <<<"$spec"
	if ! "$bin" user list | grep -q "^$name "; then
		if [ "$region" = - ]; then
			"$bin" user add --username "$name" --role "$role" >/dev/null
		else
			"$bin" user add --username "$name" --role "$role" --region "$region" >/dev/null
		fi
	fi
done
coord=$("$bin" token create --username demo.samordnare --label "make run" --days 7 2>/dev/null)
contact=$("$bin" token create --username demo.kontakt.01 --label "make run" --days 7 2>/dev/null)
listen=${LAGERBILD_LISTEN:-127.0.0.1:8080}
url="http://$listen"

echo
echo "Database: $using"
if [ -n "${PGHOST:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
	cat <<EOT
Use the CLI against it:
  export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=lagerbild
  $build/lagerbild stock show --region 01 | head
Stop the cluster with: contrib/pgcluster.sh stop var/pg
EOT
fi
cat <<EOT

lagerbild is serving at $url  (Ctrl-C stops it)
API description: $url/api/v1/openapi.json

As the SKR coordinator (demo.samordnare), national totals by region:
  curl -s -H 'Authorization: Bearer $coord' '$url/api/v1/totals?by=region' | head -c 600

As the contact person of region 01 (demo.kontakt.01), record a receipt:
  curl -s -H 'Authorization: Bearer $contact' -H 'Content-Type: application/json' \\
    -d '{"site":"01-CL","product":"009922","kind":"receipt","qty":50,"lot":"DEMO1","expiry":"2028-01-31"}' \\
    '$url/api/v1/stock-events'
  curl -s -H 'Authorization: Bearer $contact' '$url/api/v1/balances?site=01-CL&product=009922'

EOT
export LAGERBILD_LISTEN=$listen
exec "$bin" serve
