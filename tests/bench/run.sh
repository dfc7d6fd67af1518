#!/usr/bin/env bash
# run.sh BUILD -- ledger throughput beside pgbench -N on the same cluster.
#
# Records N ledger events through the library (BUILD/bench_ledger) at 1 and
# 8 concurrent connections and runs pgbench's simple-update script with the
# same number of clients and transactions on the same cluster, alternately,
# then prints events/s, pgbench TPS and their ratio.  The goal is a ratio of
# at least 0.5 at 8 clients.  Missing it is reported, not failed: the exit
# status is non-zero only when something could not be run.
#
# The cluster is a throwaway one in a temporary directory, removed
# afterwards, with fsync and synchronous_commit on: both sides commit one
# transaction per event, so durability is part of what is measured.  To use
# an existing server instead, export PGHOST (PGPORT, PGUSER) with
# LAGERBILD_BENCH_EXTERNAL=1; the databases lb_bench and pgbench_ref are then
# dropped and created there, and dropped again at the end.
#
# Environment: BENCH_EVENTS (default 20000) events, and pgbench transactions,
# per run; BENCH_ROUNDS (default 1) runs of each pair, the best one kept;
# PGBIN (default /usr/lib/postgresql/15/bin) for pgbench and psql.
# Progress goes to stderr, the table to stdout.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "$build" && pwd)

events=${BENCH_EVENTS:-20000}
rounds=${BENCH_ROUNDS:-1}
clients_list=(1 8)
ledger_db=lb_bench
ref_db=pgbench_ref

note() { echo "bench: $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

[[ $events =~ ^[1-9][0-9]{0,8}$ ]] ||
	die "BENCH_EVENTS must be a whole number from 1 to 999999999"
[[ $rounds =~ ^[1-9][0-9]?$ ]] ||
	die "BENCH_ROUNDS must be a whole number from 1 to 99"
for c in "${clients_list[@]}"; do
	((events >= c)) || die "BENCH_EVENTS must be at least $c"
done

# pgbench and psql of the server's version; they need not be on PATH.
find_tool() {
	local name=$1 dir
	for dir in "${PGBIN:-}" /usr/lib/postgresql/15/bin; do
		if [[ -n $dir && -x $dir/$name ]]; then
			echo "$dir/$name"
			return
		fi
	done
	command -v "$name" || die "cannot find $name; set PGBIN"
}
pgbench=$(find_tool pgbench)
psql=$(find_tool psql)
for f in "$build/lagerbild" "$build/bench_ledger"; do
	[[ -x $f ]] || die "$f is missing; run: make $f"
done

unset DATABASE_URL PGDATABASE
dir=""
cleanup() {
	local status=$?
	if [[ -n ${server:-} ]]; then
		kill -TERM "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	[[ -z ${scratch:-} ]] || rm -rf -- "$scratch"
	if [[ -n $dir ]]; then
		"$top/contrib/pgcluster.sh" stop "$dir/pg" --remove \
			>/dev/null 2>&1 || true
		rm -rf -- "$dir"
	elif [[ ${drop_at_exit:-0} == 1 ]]; then
		"$psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $ledger_db" \
			-c "DROP DATABASE IF EXISTS $ref_db" >/dev/null 2>&1 || true
	fi
	exit "$status"
}
trap cleanup EXIT

if [[ ${LAGERBILD_BENCH_EXTERNAL:-0} != 1 ]]; then
	dir=$(mktemp -d /tmp/lagerbild-bench.XXXXXX)
	chmod 755 "$dir"
	note "starting a throwaway cluster in $dir/pg (fsync on)"
	# Not PGCLUSTER_FAST: commits must cost what they cost in production.
	env=$(PGCLUSTER_FAST=0 "$top/contrib/pgcluster.sh" start "$dir/pg")
	eval "$env"
else
	note "using the server at ${PGHOST:-(default)}:${PGPORT:-(default)}"
	drop_at_exit=1
fi
export PGHOST PGPORT PGUSER
# "database ... does not exist, skipping" and the like are not progress.
export PGOPTIONS="-c client_min_messages=warning"

sql() {
	"$psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "$1" >&2
}

# A checkpoint before each timed run, so that neither side pays for the
# other's dirty buffers.  Only a superuser may; elsewhere it is skipped.
checkpoint() {
	"$psql" -X -q -d postgres -c CHECKPOINT >/dev/null 2>&1 ||
		note "(CHECKPOINT not allowed; runs may be noisier)"
}

note "creating $ledger_db: migrate and fixture"
sql "DROP DATABASE IF EXISTS $ledger_db"
sql "CREATE DATABASE $ledger_db"
DATABASE_URL=dbname=$ledger_db "$build/lagerbild" migrate >&2
DATABASE_URL=dbname=$ledger_db "$build/bench_ledger" --setup

note "creating $ref_db: pgbench -i -s 10"
sql "DROP DATABASE IF EXISTS $ref_db"
sql "CREATE DATABASE $ref_db"
"$pgbench" -i -s 10 -q "$ref_db" >&2

# Value of key=VALUE in a bench_ledger result line.
field() {
	sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"
}

# The larger of two decimal numbers ("" counts as none).
max() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'
}

declare -A ledger_best pgbench_best
for c in "${clients_list[@]}"; do
	jobs=$((c < 2 ? c : 2))
	per_client=$((events / c))
	ledger_best[$c]=""
	pgbench_best[$c]=""
	for ((r = 1; r <= rounds; r++)); do
		note "clients=$c round $r/$rounds: ledger, $events events"
		checkpoint
		line=$(DATABASE_URL=dbname=$ledger_db "$build/bench_ledger" \
			--clients "$c" --events "$events")
		note "  $line"
		eps=$(field events_per_sec "$line")
		[[ $eps =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
			die "no events_per_sec in bench_ledger output: $line"
		ledger_best[$c]=$(max "${ledger_best[$c]}" "$eps")

		note "clients=$c round $r/$rounds: pgbench -N -c $c -j $jobs" \
			"-t $per_client"
		checkpoint
		out=$("$pgbench" -N -n -c "$c" -j "$jobs" -t "$per_client" \
			"$ref_db")
		tps=$(sed -n \
			's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' \
			<<<"$out")
		[[ $tps =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
			echo "$out" >&2
			die "no tps line in pgbench output"
		}
		if grep -Eq '^number of failed transactions: [1-9]' <<<"$out"; then
			echo "$out" >&2
			die "pgbench reports failed transactions"
		fi
		note "  pgbench tps=$tps"
		pgbench_best[$c]=$(max "${pgbench_best[$c]}" "$tps")
	done
done

echo
echo "ledger vs pgbench -N, $events events or transactions per run," \
	"best of $rounds"
printf '%-7s  %15s  %14s  %5s\n' clients "ledger events/s" "pgbench -N tps" \
	ratio
for c in "${clients_list[@]}"; do
	awk -v c="$c" -v l="${ledger_best[$c]}" -v p="${pgbench_best[$c]}" \
		'BEGIN { printf "%-7s  %15.1f  %14.1f  %5.2f\n", c, l, p, l / p }'
done
awk -v l="${ledger_best[8]}" -v p="${pgbench_best[8]}" 'BEGIN {
	r = l / p
	printf "bench: ratio at 8 clients = %.2f (goal >= 0.50)%s\n", r,
		(r >= 0.5 ? "" : ": goal missed")
}'

# ---- HTTP: stock-event writes through `lagerbild serve` ----
#
# 16 connections post single receipts (a new event each: no idempotency
# key, so nothing is replayed) for BENCH_SECONDS, each request as the
# contact person of a random region to one of that region's sites and a
# random product, as the regions' own staff would; then pgbench -N at the
# same concurrency for as long.  The server runs 16 workers, one database
# connection each, as pgbench has 16.  Its peak RSS comes from /proc.
http_clients=16
seconds=${BENCH_SECONDS:-15}
[[ $seconds =~ ^[1-9][0-9]{0,3}$ ]] ||
	die "BENCH_SECONDS must be a whole number from 1 to 9999"
wrk=$(command -v wrk) || die "wrk is missing: bash contrib/deps.sh --bench"

note "HTTP: a contact person and a token for every region"
scratch=$(mktemp -d /tmp/lagerbild-wrk.XXXXXX)
lua="$scratch/post.lua"
{
	echo "-- One receipt of one unit per request: a random region's contact"
	echo "-- person, one of its sites, a random product (vnr 900000..900999)."
	echo "local regions = {"
	for r in $("$psql" -X -A -t -d "$ledger_db" -c "SELECT DISTINCT
		region_code FROM site WHERE code LIKE 'bench-%' ORDER BY 1"); do
		DATABASE_URL=dbname=$ledger_db "$build/lagerbild" user add \
			--username "bench.$r" --role region_contact --region "$r" >&2
		token=$(DATABASE_URL=dbname=$ledger_db "$build/lagerbild" token \
			create --username "bench.$r" --label bench --days 1 2>/dev/null)
		sites=$("$psql" -X -A -t -d "$ledger_db" -c "SELECT string_agg('\"'
			|| code || '\"', ',' ORDER BY code) FROM site
			WHERE region_code = '$r' AND code LIKE 'bench-%'")
		echo "  {token = \"$token\", sites = {$sites}},"
	done
	echo "}"
	cat <<'LUA'
request = function()
	local r = regions[math.random(#regions)]
	local body = string.format(
		'{"site":"%s","product":"%06d","kind":"receipt","qty":1}',
		r.sites[math.random(#r.sites)], 900000 + math.random(0, 999))
	return wrk.format("POST", "/api/v1/stock-events", {
		["Authorization"] = "Bearer " .. r.token,
		["Content-Type"] = "application/json",
	}, body)
end
LUA
} >"$lua"

port=$((20000 + RANDOM % 20000))
note "HTTP: lagerbild serve on 127.0.0.1:$port with $http_clients workers"
LAGERBILD_LISTEN=127.0.0.1:$port LAGERBILD_THREADS=$http_clients \
	LAGERBILD_LOG_LEVEL=warning DATABASE_URL=dbname=$ledger_db \
	"$build/lagerbild" serve 2>"$scratch/serve.log" &
server=$!
stop_server() {
	kill -TERM "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=""
}
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
	kill -0 "$server" 2>/dev/null || {
		cat "$scratch/serve.log" >&2
		die "the server did not start"
	}
	sleep 0.1
done

checkpoint
note "HTTP: wrk -t2 -c$http_clients -d${seconds}s"
out=$("$wrk" -t2 -c"$http_clients" -d"${seconds}s" --latency -s "$lua" \
	"http://127.0.0.1:$port")
echo "$out" >&2
rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server/status")
stop_server
if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
	die "some HTTP requests failed; see the wrk output above"
fi
rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
# "50%  2.31ms": wrk picks us, ms or s; everything to milliseconds.
pct() {
	awk -v p="$1%" '$1 == p {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v); exit }' <<<"$out"
}
p50=$(pct 50)
p99=$(pct 99)

checkpoint
note "HTTP: pgbench -N -c $http_clients -j 2 -T $seconds (latencies logged)"
mkdir -p "$scratch/pglog"
chmod 777 "$scratch/pglog"
out=$(cd "$scratch/pglog" && "$pgbench" -N -n -c "$http_clients" -j 2 \
	-T "$seconds" -l "$ref_db")
tps16=$(sed -n \
	's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' <<<"$out")
[[ $tps16 =~ ^[0-9]+(\.[0-9]+)?$ && $rps =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
	die "could not read the HTTP or pgbench figures"
# pgbench's own latency percentiles at the same concurrency: the reference
# for ours.  Column 3 of its per-transaction log is microseconds.
read -r ref50 ref99 < <(cat "$scratch"/pglog/pgbench_log.* | awk '{ print $3 }' |
	sort -n | awk '{ a[NR] = $1 } END {
		printf "%.3f %.3f\n", a[int(NR * 0.5)] / 1000, a[int(NR * 0.99)] / 1000 }')

echo
echo "HTTP stock-event writes vs pgbench -N, $http_clients connections," \
	"${seconds}s each"
printf '%-12s  %12s  %12s  %6s\n' figure lagerbild "pgbench -N" ratio
awk -v r="$rps" -v t="$tps16" -v a="$p50" -v b="$p99" -v m="$rss_kb" \
	-v ra="$ref50" -v rb="$ref99" 'BEGIN {
	printf "%-12s  %12.1f  %12.1f  %6.2f\n", "events/s", r, t, r / t
	printf "%-12s  %12.2f  %12.2f  %6.2f\n", "p50 ms", a, ra, a / ra
	printf "%-12s  %12.2f  %12.2f  %6.2f\n", "p99 ms", b, rb, b / rb
	printf "%-12s  %12.1f  %12s  %6s\n", "server RSS MB", m / 1024, "-", "-"
	printf "bench: HTTP ratio at 16 = %.2f (goal >= 0.50), p99 %.2f ms " \
		"(goal < 25; pgbench p99 %.2f ms), RSS %.1f MB " \
		"(goal < 64)\n", r / t, b, rb, m / 1024
}'
