#!/usr/bin/env bash
# run.sh BUILD -- ledger, HTTP and import throughput beside PostgreSQL's own
# tools on the same cluster.
#
# Five parts, each printing a table and a "bench:" line with its goals:
#
#   ledger  N ledger events through the library (BUILD/bench_ledger) at 1
#           and 8 concurrent connections, alternately with pgbench's
#           simple-update script at the same clients and transactions;
#           events/s, pgbench TPS and their ratio (goal >= 0.5 at 8);
#   http    stock events posted to `lagerbild serve` by wrk at 16
#           connections beside pgbench -N at 16: rate, p50, p99, server RSS;
#   import  `lagerbild import stock` of a generated snapshot (default a
#           million rows) into a fresh database, first as new balances and
#           then with every quantity changed, each beside a raw COPY of the
#           same file into an unindexed table: seconds, ratio (goal <= 3,
#           stretch 2) and the importer's peak RSS (goal < 100 MB).
#   allocator  the pure allocator (BUILD/bench_allocator): region-product
#           solves a second for 21 regions, sharing with lots and maxmin
#           supply, beside a proportional split of the same instances
#           (goal: at most 3 times the split's cost); BENCH_SECONDS of
#           allocator time each.  Beside them the least a sharing solve
#           does with its lots (read and check each, count its packs),
#           as a ratio to the same split: the floor under sharing's.
#   alerts  national-scale data (21 regions x 5 sites, 20,000 products,
#           180 days of history): the full alert sweep (goal <= 5 s); an
#           allocate share over every product, end to end (goal <= 2 s);
#           HTTP stock writes with the alert thread off and on, twice
#           each (goal: the incremental evaluation costs <= 20%).  Each
#           timed part starts on a vacuumed, checkpointed database
#           (settle).
#
# Missing a goal is reported, not failed: the exit status is non-zero only
# when something could not be run.
#
# The cluster is a throwaway one in a temporary directory, removed
# afterwards, with fsync and synchronous_commit on: both sides commit one
# transaction per event, so durability is part of what is measured.  To use
# an existing server instead, export PGHOST (PGPORT, PGUSER) with
# LAGERBILD_BENCH_EXTERNAL=1; the databases lb_bench, pgbench_ref and
# lb_import are then dropped and created there, and dropped again at the end.
#
# Environment: BENCH_ONLY (default "ledger,http,import,alerts,allocator")
# the parts to run;
# BENCH_EVENTS (default 20000) events, and pgbench transactions, per run;
# BENCH_ROUNDS (default 1) runs of each pair, the best one kept;
# BENCH_SECONDS (default 15) for each HTTP side; BENCH_IMPORT_ROWS (default
# 1000000) rows of the stock snapshot; PGBIN (default
# /usr/lib/postgresql/15/bin) for pgbench and psql; BENCH_HUGEPAGES=1
# (root only) reserves huge pages for the throwaway cluster's shared memory
# while it runs and starts it with huge_pages = on, as PostgreSQL's manual
# advises for a server: without them each new backend maps every shared
# buffer it touches a 4 kB page at a time, which costs the national sharing
# run some 0.3 s on the 2-core VM (session 10).  The kernel's setting is
# put back at the end.
# Progress goes to stderr, the tables to stdout.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "$build" && pwd)

parts=${BENCH_ONLY:-ledger,http,import,alerts,allocator}
events=${BENCH_EVENTS:-20000}
rounds=${BENCH_ROUNDS:-1}
seconds=${BENCH_SECONDS:-15}
import_rows=${BENCH_IMPORT_ROWS:-1000000}
clients_list=(1 8)
http_clients=16
ledger_db=lb_bench
ref_db=pgbench_ref
import_db=lb_import

note() { echo "bench: $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

# Is part $1 (ledger, http, import) to be run?
want() {
	[[ ,$parts, == *,$1,* ]]
}

[[ $parts =~ ^(ledger|http|import|alerts|allocator)(,(ledger|http|import|alerts|allocator))*$ ]] ||
	die "BENCH_ONLY must list some of ledger,http,import,alerts,allocator (comma-separated)"
[[ $events =~ ^[1-9][0-9]{0,8}$ ]] ||
	die "BENCH_EVENTS must be a whole number from 1 to 999999999"
[[ $rounds =~ ^[1-9][0-9]?$ ]] ||
	die "BENCH_ROUNDS must be a whole number from 1 to 99"
for c in "${clients_list[@]}"; do
	((events >= c)) || die "BENCH_EVENTS must be at least $c"
done
[[ $seconds =~ ^[1-9][0-9]{0,3}$ ]] ||
	die "BENCH_SECONDS must be a whole number from 1 to 9999"
if ! [[ $import_rows =~ ^[1-9][0-9]{0,7}$ ]] ||
	((import_rows > 10000000)); then
	die "BENCH_IMPORT_ROWS must be a whole number from 1 to 10000000"
fi

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
if want http || want alerts; then
	wrk=$(command -v wrk) ||
		die "wrk is missing: bash contrib/deps.sh --bench"
fi

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
		if [[ -n ${hugepages_before:-} ]]; then
			echo "$hugepages_before" >/proc/sys/vm/nr_hugepages ||
				true
		fi
	elif [[ ${drop_at_exit:-0} == 1 ]]; then
		"$psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $ledger_db" \
			-c "DROP DATABASE IF EXISTS $ref_db" \
			-c "DROP DATABASE IF EXISTS $import_db" >/dev/null 2>&1 ||
			true
	fi
	exit "$status"
}
trap cleanup EXIT

# BENCH_HUGEPAGES: enough huge pages more for the cluster's shared memory
# (320 MB: shared_buffers is 256 MB, contrib/pgcluster.sh, and the rest
# some 25 MB; the cluster used 139 pages of 2 MB in session 10),
# the kernel's count kept to be put back by cleanup.
reserve_hugepages() {
	local size want
	((EUID == 0)) || die "BENCH_HUGEPAGES=1: only root may reserve huge pages"
	size=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
	[[ $size =~ ^[0-9]+$ && $size -gt 0 ]] ||
		die "BENCH_HUGEPAGES=1: the kernel has no huge pages"
	hugepages_before=$(</proc/sys/vm/nr_hugepages)
	want=$((hugepages_before + (320 * 1024 + size - 1) / size))
	echo "$want" >/proc/sys/vm/nr_hugepages ||
		die "BENCH_HUGEPAGES=1: cannot set vm.nr_hugepages"
	(($(</proc/sys/vm/nr_hugepages) == want)) ||
		die "BENCH_HUGEPAGES=1: the kernel reserved $(</proc/sys/vm/nr_hugepages) of $want huge pages"
}

if [[ ${LAGERBILD_BENCH_EXTERNAL:-0} != 1 ]]; then
	dir=$(mktemp -d /tmp/lagerbild-bench.XXXXXX)
	chmod 755 "$dir"
	huge=try
	if [[ ${BENCH_HUGEPAGES:-0} == 1 ]]; then
		reserve_hugepages
		huge=on
	fi
	note "starting a throwaway cluster in $dir/pg (fsync on, huge_pages $huge)"
	# Not PGCLUSTER_FAST: commits must cost what they cost in production.
	env=$(PGCLUSTER_FAST=0 PGCLUSTER_HUGE_PAGES=$huge \
		"$top/contrib/pgcluster.sh" start "$dir/pg")
	eval "$env"
else
	[[ ${BENCH_HUGEPAGES:-0} != 1 ]] ||
		die "BENCH_HUGEPAGES=1 is for the throwaway cluster; an external server has its own settings"
	note "using the server at ${PGHOST:-(default)}:${PGPORT:-(default)}"
	drop_at_exit=1
fi
export PGHOST PGPORT PGUSER
# "database ... does not exist, skipping" and the like are not progress.
export PGOPTIONS="-c client_min_messages=warning"
# Files of the HTTP and import parts: a Lua script, pgbench's logs, the
# snapshots (about 50 MB per million rows).
scratch=$(mktemp -d /tmp/lagerbild-wrk.XXXXXX)

sql() {
	"$psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "$1" >&2
}

# A checkpoint before each timed run, so that neither side pays for the
# other's dirty buffers.  Only a superuser may; elsewhere it is skipped.
checkpoint() {
	"$psql" -X -q -d postgres -c CHECKPOINT >/dev/null 2>&1 ||
		note "(CHECKPOINT not allowed; runs may be noisier)"
}

# VACUUM (ANALYZE) database $1, then checkpoint: what autovacuum has long
# done on a live database after a bulk load or a sweep that rewrote many
# rows.  Without it, autovacuum workers vacuum the national data while a
# part is timed, on the same two cores (a sharing run measured 4.1 s with
# them at work, 3.7 s after this).
settle() {
	"$psql" -X -q -d "$1" -c "VACUUM (ANALYZE)" >/dev/null 2>&1 ||
		note "(VACUUM of $1 failed; runs may be noisier)"
	checkpoint
}

# Value of key=VALUE in a bench_ledger result line.
field() {
	sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<" $2"
}

# The larger of two decimal numbers ("" counts as none).
max() {
	awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 > a + 0) ? b : a }'
}

# Seconds since the epoch, to the nanosecond.
now() {
	date +%s.%N
}

# The databases of the ledger and HTTP parts: the bench_ledger fixture
# (sites bench-*, products Vnr 900000..900999) and pgbench's tables.
setup_ledger() {
	note "creating $ledger_db: migrate and fixture"
	sql "DROP DATABASE IF EXISTS $ledger_db"
	sql "CREATE DATABASE $ledger_db"
	DATABASE_URL=dbname=$ledger_db "$build/lagerbild" migrate >&2
	DATABASE_URL=dbname=$ledger_db "$build/bench_ledger" --setup

	note "creating $ref_db: pgbench -i -s 10"
	sql "DROP DATABASE IF EXISTS $ref_db"
	sql "CREATE DATABASE $ref_db"
	"$pgbench" -i -s 10 -q "$ref_db" >&2
}

# ---- ledger: events through the library vs pgbench -N ----
bench_ledger() {
	local c r jobs per_client line eps out tps
	local -A ledger_best pgbench_best

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

			note "clients=$c round $r/$rounds: pgbench -N -c $c" \
				"-j $jobs -t $per_client"
			checkpoint
			out=$("$pgbench" -N -n -c "$c" -j "$jobs" \
				-t "$per_client" "$ref_db")
			tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' \
				<<<"$out")
			[[ $tps =~ ^[0-9]+(\.[0-9]+)?$ ]] || {
				echo "$out" >&2
				die "no tps line in pgbench output"
			}
			if grep -Eq '^number of failed transactions: [1-9]' \
				<<<"$out"; then
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
	printf '%-7s  %15s  %14s  %5s\n' clients "ledger events/s" \
		"pgbench -N tps" ratio
	for c in "${clients_list[@]}"; do
		awk -v c="$c" -v l="${ledger_best[$c]}" \
			-v p="${pgbench_best[$c]}" \
			'BEGIN { printf "%-7s  %15.1f  %14.1f  %5.2f\n", c, l, p, l / p }'
	done
	awk -v l="${ledger_best[8]}" -v p="${pgbench_best[8]}" 'BEGIN {
		r = l / p
		printf "bench: ratio at 8 clients = %.2f (goal >= 0.50)%s\n", r,
			(r >= 0.5 ? "" : ": goal missed")
	}'
}

# ---- HTTP: stock-event writes through `lagerbild serve` ----
#
# 16 connections post single receipts (a new event each: no idempotency
# key, so nothing is replayed) for BENCH_SECONDS, each request as the
# contact person of a random region to one of that region's sites and a
# random product, as the regions' own staff would; then pgbench -N at the
# same concurrency for as long.  The server runs 16 workers, one database
# connection each, as pgbench has 16.  Its peak RSS comes from /proc.
bench_http() {
	local lua="$scratch/post.lua" r token sites port out rss_kb rps p50 p99
	local tps16 ref50 ref99

	note "HTTP: a contact person and a token for every region"
	{
		echo "-- One receipt of one unit per request: a random region's contact"
		echo "-- person, one of its sites, a random product (vnr 900000..900999)."
		echo "local regions = {"
		for r in $("$psql" -X -A -t -d "$ledger_db" -c "SELECT DISTINCT
			region_code FROM site WHERE code LIKE 'bench-%' ORDER BY 1"); do
			DATABASE_URL=dbname=$ledger_db "$build/lagerbild" user add \
				--username "bench.$r" --role region_contact \
				--region "$r" >&2
			token=$(DATABASE_URL=dbname=$ledger_db "$build/lagerbild" \
				token create --username "bench.$r" --label bench \
				--days 1 2>/dev/null)
			sites=$("$psql" -X -A -t -d "$ledger_db" -c "SELECT
				string_agg('\"' || code || '\"', ',' ORDER BY code)
				FROM site WHERE region_code = '$r'
				AND code LIKE 'bench-%'")
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
	out=$("$wrk" -t2 -c"$http_clients" -d"${seconds}s" --latency \
		-s "$lua" "http://127.0.0.1:$port")
	echo "$out" >&2
	rss_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server/status")
	kill -TERM "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=""
	if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
		die "some HTTP requests failed; see the wrk output above"
	fi
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	p50=$(wrk_pct 50 "$out")
	p99=$(wrk_pct 99 "$out")

	checkpoint
	note "HTTP: pgbench -N -c $http_clients -j 2 -T $seconds" \
		"(latencies logged)"
	mkdir -p "$scratch/pglog"
	chmod 777 "$scratch/pglog"
	out=$(cd "$scratch/pglog" && "$pgbench" -N -n -c "$http_clients" \
		-j 2 -T "$seconds" -l "$ref_db")
	tps16=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)$/\1/p' \
		<<<"$out")
	[[ $tps16 =~ ^[0-9]+(\.[0-9]+)?$ && $rps =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
		die "could not read the HTTP or pgbench figures"
	# pgbench's own latency percentiles at the same concurrency: the
	# reference for ours.  Column 3 of its per-transaction log is
	# microseconds.
	read -r ref50 ref99 < <(cat "$scratch"/pglog/pgbench_log.* |
		awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 } END {
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
}

# wrk_pct P OUTPUT: wrk's P% latency line ("50%  2.31ms": wrk picks us, ms
# or s) in milliseconds.
wrk_pct() {
	awk -v p="$1%" '$1 == p {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v); exit }' <<<"$2"
}

# ---- import: a stock snapshot beside a raw COPY of the same file ----
#
# A fresh database, migrated, with 1000 sites of region 01 (imp-0001..1000)
# and 1000 medicines (Vnr 800000..800999); tests/bench/stock-snapshot.sh
# writes the snapshot, a row per (site, product, lot).  Two passes: the
# first import creates every balance, the second (a snapshot counted a day
# later with every quantity changed) updates every one of them.  Each pass
# first times `\copy raw_stock FROM FILE CSV HEADER` into an unindexed
# table of text and bigint columns, then the import, a checkpoint before
# each.  Only the importer's own peak RSS is measured: the work in the
# server is the COPY side's work too.

# Peak RSS of a command, in kB: GNU time's %M when /usr/bin/time is GNU
# time, else VmHWM polled from /proc every 50 ms (which can miss a peak in
# the last moments of the process).
gnu_time=""
if /usr/bin/time -f %M -o /dev/null true >/dev/null 2>&1; then
	gnu_time=/usr/bin/time
fi

# timed OUT ERR CMD...: run CMD with stdout to OUT and stderr to ERR; set
# t_secs (wall clock), t_rss_kb ("" if unknown) and t_status.
timed() {
	local out=$1 err=$2 t0 t1 pid hwm k v _
	shift 2
	t_rss_kb=""
	t_status=0
	if [[ -n $gnu_time ]]; then
		t0=$(now)
		"$gnu_time" -f %M -o "$scratch/rss" "$@" >"$out" 2>"$err" ||
			t_status=$?
		t1=$(now)
		t_rss_kb=$(tail -n 1 "$scratch/rss")
		[[ $t_rss_kb =~ ^[0-9]+$ ]] || t_rss_kb=""
	else
		t0=$(now)
		"$@" >"$out" 2>"$err" &
		pid=$!
		hwm=""
		while kill -0 "$pid" 2>/dev/null; do
			while read -r k v _; do
				[[ $k == VmHWM: ]] && hwm=$v
			done 2>/dev/null <"/proc/$pid/status" || true
			sleep 0.05
		done
		wait "$pid" || t_status=$?
		t1=$(now)
		t_rss_kb=$hwm
	fi
	t_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

bench_import() {
	local rows=$import_rows pass file counted line applied floor_s=0
	local -a import_s copy_s rss_kb
	local names=("" "first (new)" "second (update)")

	note "import: creating $import_db: migrate, 1000 sites, 1000 products"
	sql "DROP DATABASE IF EXISTS $import_db"
	sql "CREATE DATABASE $import_db"
	DATABASE_URL=dbname=$import_db "$build/lagerbild" migrate >&2
	"$psql" -X -q -v ON_ERROR_STOP=1 -d "$import_db" >&2 <<'SQL'
INSERT INTO site (region_code, code, name, kind, host_region_code)
SELECT '01', format('imp-%s', lpad(i::text, 4, '0')),
       format('Bench site %s', i), 'hospital', '01'
  FROM generate_series(1, 1000) AS i;
INSERT INTO product (category, vnr, name, pack_size)
SELECT 'medicine', (800000 + i)::text, format('Bench medicine %s', i), 10
  FROM generate_series(0, 999) AS i;
CREATE TABLE raw_stock (site text, product text, lot text, expiry text,
			quantity bigint, counted_at text);
SQL

	for pass in 1 2; do
		# Counted yesterday, then today (midnight, Swedish time): never
		# in the future, and the second count is the later one.
		if ((pass == 1)); then
			counted=$(date -d yesterday +%F)
		else
			counted=$(date +%F)
		fi
		file="$scratch/stock-$pass.csv"
		note "import: pass $pass: writing $rows rows to $file"
		bash "$top/tests/bench/stock-snapshot.sh" "$rows" "$pass" \
			"$counted" >"$file"

		note "import: pass $pass: \\copy raw_stock"
		"$psql" -X -q -v ON_ERROR_STOP=1 -d "$import_db" \
			-c "TRUNCATE raw_stock" >&2
		checkpoint
		timed "$scratch/copy.out" "$scratch/copy.err" "$psql" -X -q \
			-v ON_ERROR_STOP=1 -d "$import_db" \
			-c "\\copy raw_stock FROM '$file' CSV HEADER"
		if ((t_status != 0)); then
			cat "$scratch/copy.err" >&2
			die "the COPY failed"
		fi
		copy_s[pass]=$t_secs
		note "  COPY ${t_secs}s"
		if ((pass == 1)); then
			# The ledger's own floor: the same rows as count events
			# into a table shaped and indexed like stock_event, with
			# no trigger, no balance and no check.  No importer that
			# keeps the ledger's design can beat it.
			"$psql" -X -q -v ON_ERROR_STOP=1 -d "$import_db" >&2 <<'SQL'
CREATE TABLE floor_event (LIKE stock_event INCLUDING DEFAULTS
			  INCLUDING IDENTITY INCLUDING INDEXES);
SQL
			checkpoint
			timed "$scratch/floor.out" "$scratch/floor.err" "$psql" -X \
				-q -v ON_ERROR_STOP=1 -d "$import_db" -c "
INSERT INTO floor_event (region_code, site_id, product_id, lot, expiry, kind,
			 quantity, delta, balance_after, seq, occurred_at,
			 recorded_by, source)
SELECT '01', s.id, p.id, coalesce(r.lot, ''), r.expiry::date, 'count',
       r.quantity, r.quantity, r.quantity, 1, r.counted_at::timestamptz,
       'bench', 'bench'
  FROM raw_stock r JOIN site s ON s.code = r.site
  JOIN product p ON p.vnr = r.product"
			if ((t_status != 0)); then
				cat "$scratch/floor.err" >&2
				die "the floor INSERT failed"
			fi
			floor_s=$t_secs
			note "  floor: INSERT of the events alone ${t_secs}s"
		fi

		note "import: pass $pass: lagerbild import stock --region 01"
		checkpoint
		timed "$scratch/import.out" "$scratch/import.err" \
			env DATABASE_URL=dbname=$import_db LAGERBILD_LOG_LEVEL=warning \
			"$build/lagerbild" import stock "$file" --region 01
		line=$(head -n 1 "$scratch/import.out")
		applied=$(sed -n 's/^stock 01: done: [0-9]* records, \([0-9]*\) applied, 0 rejected.*/\1/p' \
			<<<"$line")
		if ((t_status != 0)) || [[ $applied != "$rows" ]]; then
			head -n 20 "$scratch/import.err" >&2
			echo "$line" >&2
			die "the import (pass $pass) exited $t_status" \
				"and did not apply all $rows rows"
		fi
		import_s[pass]=$t_secs
		rss_kb[pass]=$t_rss_kb
		note "  $line"
		note "  import ${t_secs}s, peak RSS ${t_rss_kb:-unknown} kB"
	done

	echo
	echo "stock import vs COPY into an unindexed table, $rows rows" \
		"(1000 sites x 1000 products, region 01)"
	printf '%-16s  %8s  %8s  %5s  %7s\n' import "import s" "COPY s" ratio \
		"RSS MB"
	for pass in 1 2; do
		awk -v n="${names[$pass]}" -v i="${import_s[$pass]}" \
			-v c="${copy_s[$pass]}" -v m="${rss_kb[$pass]}" 'BEGIN {
			printf "%-16s  %8.2f  %8.2f  %5.2f  %7s\n", n, i, c, i / c,
				(m == "" ? "n/a" : sprintf("%.1f", m / 1024))
		}'
	done
	awk -v f="$floor_s" -v c="${copy_s[1]}" 'BEGIN {
		printf "%-16s  %8.2f  %8.2f  %5.2f  %7s\n", "floor (events)", f,
			c, f / c, "-"
	}'
	for pass in 1 2; do
		awk -v n="${names[$pass]}" -v i="${import_s[$pass]}" \
			-v c="${copy_s[$pass]}" -v m="${rss_kb[$pass]}" 'BEGIN {
			r = i / c
			printf "bench: %s import/COPY = %.2f (goal <= 3: goal %s; " \
				"stretch <= 2: %s), RSS %s\n", n, r,
				(r <= 3 ? "met" : "MISSED"), (r <= 2 ? "met" : "missed"),
				(m == "" ? "unavailable" : \
				 sprintf("%.1f MB (goal < 100: goal %s)", m / 1024,
					 (m / 1024 < 100 ? "met" : "MISSED")))
		}'
	done
}

if want ledger || want http; then
	setup_ledger
fi
if want ledger; then
	bench_ledger
fi
if want http; then
	bench_http
fi
if want import; then
	bench_import
fi

# ---- alerts: a full sweep on national-scale data; the write path with
# incremental evaluation on and off ----
#
# A fresh database lb_alerts: 21 regions x 5 sites, 20,000 medicines under
# an agreement (30-day target, the agreement's default floor), each held at
# one site per region (420,000 balances).  Made set-wise, not through the
# ledger one event at a time: per balance a receipt 180 days ago and the
# issues since as one event (the ledger agrees with the balances, so verify
# finds nothing), and the readiness rollup written directly -- the window's
# last 28 days as four issue days a balance, stock_daily_key's first day 180
# days back -- with the watermark past the events, so readiness_refresh has
# nothing to read.  Every tenth product is out of stock, every tenth below
# its floor, every tenth below target; one in fifty has a lot expiring in
# 30 days; 200 have an active shortage notice; one region is in disaster.
#
# Timed: `lagerbild alerts run` twice -- the first opens every alert (some
# 150,000), the second is the steady state -- with verify, and once
# without.  Then wrk posts receipts for 30 s (BENCH_SECONDS) from every
# region's contact person to `lagerbild serve` with the alert thread off
# (LAGERBILD_ALERT_INTERVAL=0) and on (3600: incremental evaluation of
# every touched key, no sweep during the run).
bench_alerts() {
	local db=lb_alerts lua="$scratch/alerts.lua" r token port out t0 t1
	local run1 run2 run3 rps_off rps_on p99_off p99_on p50_off p50_on
	local open_alerts share shares proposals round side
	local -A req sec p50 p99

	note "alerts: creating $db (national-scale data, set-wise)"
	sql "DROP DATABASE IF EXISTS $db"
	sql "CREATE DATABASE $db"
	DATABASE_URL=dbname=$db "$build/lagerbild" migrate >&2
	t0=$(now)
	"$psql" -X -q -v ON_ERROR_STOP=1 -d "$db" >&2 <<'SQL'
SELECT set_config('lagerbild.role', 'system', false),
       set_config('lagerbild.actor', 'bench', false);
INSERT INTO site (region_code, code, name, kind, host_region_code)
SELECT r.code, 'al-' || r.code || '-' || n, 'Bench ' || r.code || '-' || n,
       CASE WHEN n = 1 THEN 'central' ELSE 'hospital' END::site_kind, r.code
  FROM region r, generate_series(1, 5) n;
INSERT INTO product (category, name, vnr, agreement_code)
SELECT 'medicine', 'Bench medicine ' || i, lpad((100000 + i)::text, 6, '0'),
       'TO2022_LM'
  FROM generate_series(0, 19999) i;
INSERT INTO import_batch (feed, region_code, source, sha256, bytes, status,
			  rows_total, rows_applied, rows_rejected, started_at)
VALUES ('stock', NULL, 'bench', repeat('0', 64), 0, 'done', 0, 0, 0, now());
CREATE TEMP TABLE k AS
SELECT s.region_code, s.id AS site_id, p.id AS product_id,
       CASE (p.id + s.region_code::int) % 10
	    WHEN 0 THEN 0 WHEN 1 THEN 50 WHEN 2 THEN 150
	    ELSE 1000 END AS balance,
       CASE WHEN p.id % 50 = 3 THEN lb_today() + 30 END AS expiry
  FROM product p
  JOIN site s ON s.code = 'al-' || s.region_code || '-' || (1 + p.id % 5);
-- 10 a day issued over the window, 1800 over 180 days
INSERT INTO stock_event (region_code, site_id, product_id, lot, expiry, kind,
			 quantity, delta, balance_after, seq, occurred_at,
			 recorded_by, source, import_batch_id)
SELECT region_code, site_id, product_id, '', expiry,
       'receipt'::stock_event_kind, balance + 1800, balance + 1800, balance + 1800, 1,
       now() - interval '180 days', 'bench', 'bench',
       (SELECT max(id) FROM import_batch)
  FROM k
UNION ALL
SELECT region_code, site_id, product_id, '', NULL,
       'issue'::stock_event_kind, 1800, -1800,
       balance, 2, now() - interval '1 day', 'bench', 'bench',
       (SELECT max(id) FROM import_batch)
  FROM k;
INSERT INTO stock_balance
SELECT k.region_code, k.site_id, k.product_id, '', k.expiry, k.balance, 2,
       e.id, now() - interval '1 day'
  FROM k JOIN stock_event e
    ON e.region_code = k.region_code AND e.site_id = k.site_id
   AND e.product_id = k.product_id AND e.seq = 2;
INSERT INTO region_product_stock
SELECT region_code, product_id, sum(balance), now() FROM k GROUP BY 1, 2;
INSERT INTO stock_daily (region_code, site_id, product_id, day, issued, net,
			 end_balance)
SELECT region_code, site_id, product_id, lb_today() - 7 * w, 70, -70,
       balance + 70 * (w - 1)
  FROM k, generate_series(1, 4) w;
INSERT INTO stock_daily_key
SELECT region_code, site_id, product_id, lb_today() - 180, balance FROM k;
UPDATE stock_daily_watermark w SET last_id = m.id, refreshed_at = now()
  FROM (SELECT region_code, max(id) AS id FROM stock_event GROUP BY 1) m
 WHERE m.region_code = w.region_code;
UPDATE stock_daily_horizon SET safe_id = (SELECT max(id) FROM stock_event);
INSERT INTO shortage_notice (notice_id, vnr, product_id, product_name,
			     starts_on, status, batch_id)
SELECT 'B-' || p.id, p.vnr, p.id, p.name, lb_today(), 'active',
       (SELECT max(id) FROM import_batch)
  FROM product p WHERE p.id % 100 = 7;
INSERT INTO region_state_history (region_code, state, reason, set_by)
VALUES ('09', 'disaster', 'bench', 'bench');
ANALYZE;
SQL
	t1=$(now)
	note "alerts: data made in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"

	settle "$db"
	t0=$(now)
	DATABASE_URL=dbname=$db LAGERBILD_LOG_LEVEL=warning \
		"$build/lagerbild" alerts run >&2
	t1=$(now)
	run1=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	settle "$db"
	t0=$(now)
	DATABASE_URL=dbname=$db LAGERBILD_LOG_LEVEL=warning \
		"$build/lagerbild" alerts run >&2
	t1=$(now)
	run2=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	settle "$db"
	t0=$(now)
	DATABASE_URL=dbname=$db LAGERBILD_LOG_LEVEL=warning \
		"$build/lagerbild" alerts run --no-verify >&2
	t1=$(now)
	run3=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	open_alerts=$("$psql" -X -A -t -d "$db" -c \
		"SELECT count(*) FROM alert WHERE resolved_at IS NULL")

	# Issue 6: a sharing run over every product and region, end to end
	# (reading the state, solving, storing the run and its proposals).
	# Three runs, the median reported: one run of a few seconds on two
	# shared cores varied from 3.6 to 4.7 s.  A run moves no stock, so
	# each solves the same; the later ones add to bigger tables.
	shares=()
	for round in 1 2 3; do
		note "alerts: allocate share over all 20000 products ($round/3)"
		settle "$db"
		t0=$(now)
		DATABASE_URL=dbname=$db LAGERBILD_LOG_LEVEL=warning \
			"$build/lagerbild" allocate share --agreement TO2022_LM \
			>/dev/null || die "allocate share failed"
		t1=$(now)
		shares+=("$(awk -v a="$t0" -v b="$t1" \
			'BEGIN { printf "%.2f", b - a }')")
	done
	share=$(printf '%s\n' "${shares[@]}" | sort -n | sed -n 2p)
	# A run's proposals are stored packed with its products (sql/020).
	proposals=$("$psql" -X -A -t -d "$db" -c \
		"SELECT sum(cardinality(proposal_quantity)) / 3
		   FROM allocation_run_product")

	note "alerts: a contact person and a token for every region"
	{
		echo "local regions = {"
		for r in $("$psql" -X -A -t -d "$db" -c \
			"SELECT code FROM region ORDER BY 1"); do
			DATABASE_URL=dbname=$db "$build/lagerbild" user add \
				--username "alerts.$r" --role region_contact \
				--region "$r" >&2
			token=$(DATABASE_URL=dbname=$db "$build/lagerbild" \
				token create --username "alerts.$r" \
				--label bench --days 1 2>/dev/null)
			echo "  {token = \"$token\", region = \"$r\"},"
		done
		echo "}"
		cat <<'LUA'
request = function()
	local r = regions[math.random(#regions)]
	local body = string.format(
		'{"site":"al-%s-%d","product":"%06d","kind":"receipt","qty":1}',
		r.region, math.random(1, 5), 100000 + math.random(0, 19999))
	return wrk.format("POST", "/api/v1/stock-events", {
		["Authorization"] = "Bearer " .. r.token,
		["Content-Type"] = "application/json",
	}, body)
end
LUA
	} >"$lua"

	# Off, on, on, off: a drift over the minute falls on both sides
	# alike, and each side's figures are the two runs' (rate: all their
	# requests over all their time; p50 and p99: the mean of the two).
	for interval in 0 3600 3600 0; do
		port=$((20000 + RANDOM % 20000))
		note "alerts: serve with LAGERBILD_ALERT_INTERVAL=$interval"
		LAGERBILD_LISTEN=127.0.0.1:$port LAGERBILD_THREADS=$http_clients \
			LAGERBILD_LOG_LEVEL=warning DATABASE_URL=dbname=$db \
			LAGERBILD_ALERT_INTERVAL=$interval \
			"$build/lagerbild" serve 2>"$scratch/alerts-serve.log" &
		server=$!
		for _ in $(seq 100); do
			curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 &&
				break
			kill -0 "$server" 2>/dev/null || {
				cat "$scratch/alerts-serve.log" >&2
				die "the server did not start"
			}
			sleep 0.1
		done
		settle "$db"
		out=$("$wrk" -t2 -c"$http_clients" -d"${seconds}s" --latency \
			-s "$lua" "http://127.0.0.1:$port")
		echo "$out" >&2
		kill -TERM "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
		server=""
		if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then
			die "some HTTP requests failed; see the wrk output above"
		fi
		side=on
		((interval == 0)) && side=off
		req[$side]=$((${req[$side]:-0} + $(awk \
			'/ requests in / { print $1 }' <<<"$out")))
		sec[$side]=$(awk -v t="${sec[$side]:-0}" '/ requests in / {
			d = $4; sub(/s,$/, "", d); print t + d }' <<<"$out")
		p50[$side]=$(awk -v t="${p50[$side]:-0}" -v v="$(wrk_pct 50 \
			"$out")" 'BEGIN { print t + v / 2 }')
		p99[$side]=$(awk -v t="${p99[$side]:-0}" -v v="$(wrk_pct 99 \
			"$out")" 'BEGIN { print t + v / 2 }')
	done
	rps_off=$(awk -v n="${req[off]}" -v t="${sec[off]}" 'BEGIN { print n / t }')
	rps_on=$(awk -v n="${req[on]}" -v t="${sec[on]}" 'BEGIN { print n / t }')
	p50_off=${p50[off]} p99_off=${p99[off]}
	p50_on=${p50[on]} p99_on=${p99[on]}

	echo
	echo "alerts: national scale (21 regions x 5 sites, 20000 products," \
		"420000 balances), $open_alerts open alerts"
	printf '%-34s  %8s\n' "sweep (lagerbild alerts run)" seconds
	printf '%-34s  %8s\n' "first: opens every alert" "$run1"
	printf '%-34s  %8s\n' "second: steady state" "$run2"
	printf '%-34s  %8s\n' "steady state, --no-verify" "$run3"
	echo
	echo "bench: allocate share over 20000 products x 21 regions, end to" \
		"end: $share s (median of ${shares[*]}), $proposals proposals" \
		"(goal <= 2 s:" \
		"$(awk -v s="$share" 'BEGIN { print (s <= 2 ? "met" : "MISSED") }'))"
	echo
	echo "HTTP stock-event writes, $http_clients connections, 2 x" \
		"${seconds}s each: alert thread off vs on"
	printf '%-12s  %10s  %10s  %6s\n' figure off on ratio
	awk -v a="$rps_off" -v b="$rps_on" -v c="$p50_off" -v d="$p50_on" \
		-v e="$p99_off" -v f="$p99_on" -v r1="$run1" -v r2="$run2" \
		-v r3="$run3" 'BEGIN {
		printf "%-12s  %10.1f  %10.1f  %6.2f\n", "events/s", a, b, b / a
		printf "%-12s  %10.2f  %10.2f  %6.2f\n", "p50 ms", c, d, d / c
		printf "%-12s  %10.2f  %10.2f  %6.2f\n", "p99 ms", e, f, f / e
		printf "bench: alert sweep %.2f s first, %.2f s steady, %.2f s " \
			"without verify (goal <= 5: %s, %s, %s)\n", r1, r2, r3,
			(r1 <= 5 ? "met" : "MISSED"), (r2 <= 5 ? "met" : "MISSED"),
			(r3 <= 5 ? "met" : "MISSED")
		o = (a - b) / a * 100
		printf "bench: incremental alert evaluation costs the write path " \
			"%.1f%% of its rate, p50 x%.2f (goal <= 20%%: %s)\n", o,
			d / c, (o <= 20 && d / c <= 1.2 ? "met" : "MISSED")
	}'
}
if want alerts; then
	bench_alerts
fi

# ---- allocator: the pure algorithms beside a proportional split ----
#
# No database: BUILD/bench_allocator solves random 21-region instances
# (sharing with lots, maxmin supply) and, in the same run, splits the same
# instances in proportion to consumption, the cheapest allocation there is.
bench_allocator() {
	local out line share supply lots

	[[ -x $build/bench_allocator ]] ||
		die "$build/bench_allocator is missing; run: make $build/bench_allocator"
	note "allocator: 2000 instances of 21 regions, ${seconds}s a problem"
	out=$("$build/bench_allocator" --seconds "$seconds") ||
		die "bench_allocator failed"
	while read -r line; do
		note "  $line"
	done <<<"$out"
	echo
	echo "allocator: region-product solves for 21 regions vs a proportional" \
		"split of the same instances"
	printf '%-8s  %12s  %12s  %5s\n' problem "solves/s" "split/s" ratio
	while read -r line; do
		awk -v p="$(field problem "$line")" \
			-v a="$(field solves_per_sec "$line")" \
			-v b="$(field split_per_sec "$line")" \
			-v r="$(field ratio "$line")" 'BEGIN {
			printf "%-8s  %12.0f  %12.0f  %5.2f\n", p, a, b, r
		}'
	done <<<"$out"
	share=$(field ratio "$(grep '^problem=share ' <<<"$out")")
	supply=$(field ratio "$(grep '^problem=supply ' <<<"$out")")
	lots=$(field ratio "$(grep '^problem=lots ' <<<"$out")")
	[[ $share =~ ^[0-9.]+$ && $supply =~ ^[0-9.]+$ && $lots =~ ^[0-9.]+$ ]] ||
		die "no ratio in bench_allocator output: $out"
	awk -v s="$share" -v u="$supply" -v l="$lots" 'BEGIN {
		printf "bench: allocator cost over a proportional split: sharing " \
			"%.2f, supply %.2f (goal <= 3: %s, %s); reading and " \
			"checking the sharing instances\047 lots alone %.2f\n",
			s, u, (s <= 3 ? "met" : "MISSED"),
			(u <= 3 ? "met" : "MISSED"), l
	}'
}
if want allocator; then
	bench_allocator
fi
