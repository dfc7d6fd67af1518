#!/usr/bin/env bash
# run.sh BUILD -- run the test suites against a throwaway PostgreSQL cluster.
#
# The cluster lives in a temporary directory and is removed afterwards, pass
# or fail.  To use an existing server instead, export PGHOST (and PGPORT,
# PGUSER) pointing at it with LAGERBILD_TEST_EXTERNAL=1; the tests create
# and drop their own databases named lb_*.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$build" && pwd)

unset DATABASE_URL PGDATABASE
if [ "${LAGERBILD_TEST_EXTERNAL:-0}" != 1 ]; then
	dir=$(mktemp -d /tmp/lagerbild-test.XXXXXX)
	chmod 755 "$dir"
	cleanup() { "$top/contrib/pgcluster.sh" stop "$dir/pg" --remove >/dev/null 2>&1 || true; rm -rf "$dir"; }
	trap cleanup EXIT
	# Durability buys nothing in a cluster that is thrown away.
	eval "$(PGCLUSTER_FAST=1 "$top/contrib/pgcluster.sh" start "$dir/pg")"
	# The one test that restarts PostgreSQL may restart this one.
	export LAGERBILD_TEST_PGDIR="$dir/pg"
fi
export PGHOST PGPORT PGUSER
export LAGERBILD_TEST_DB=1
export LAGERBILD_BIN="$build/lagerbild"
export LAGERBILD_ACTOR=test
cd "$top"
"$build/check_lagerbild"
