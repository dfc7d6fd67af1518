#!/usr/bin/env bash
# stock-snapshot.sh ROWS PASS COUNTED_AT -- a stock snapshot CSV for the
# import benchmark (tests/bench/run.sh), written to stdout.
#
# The header is site,product,lot,expiry,quantity,counted_at (the stock feed,
# importers/stock.c).  Row k (from 0) counts product k % 1000, named by its
# Vnr 800000 + k % 1000, at site imp-NNNN, NNNN = (k / 1000) % 1000 + 1, all
# of region 01, in lot L<n>-<product> with n = k / 1000000: a million rows
# are a million different (site, product, lot) balances, and more rows add
# lots rather than repeat a balance, which the feed would reject.  A lot's
# expiry depends only on the lot, as the ledger requires.
#
# PASS (1, 2, ...) shifts every quantity by one, so that pass 2 of the same
# ROWS changes every balance pass 1 set.  COUNTED_AT (YYYY-MM-DD or RFC 3339)
# goes on every row; it must not lie in the future.
#
# awk only: python is not on a fresh Debian.  A million rows take about a
# second and 50 MB.
set -euo pipefail

[[ $# == 3 ]] || {
	echo "usage: stock-snapshot.sh ROWS PASS COUNTED_AT" >&2
	exit 2
}
[[ $1 =~ ^[1-9][0-9]{0,7}$ && $2 =~ ^[1-9][0-9]{0,2}$ ]] || {
	echo "stock-snapshot.sh: ROWS and PASS must be whole numbers" >&2
	exit 2
}
[[ $3 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}([T\ ][0-9:.+Z-]+)?$ ]] || {
	echo "stock-snapshot.sh: COUNTED_AT must be YYYY-MM-DD or RFC 3339" >&2
	exit 2
}

exec awk -v rows="$1" -v pass="$2" -v at="$3" 'BEGIN {
	print "site,product,lot,expiry,quantity,counted_at"
	for (k = 0; k < rows; k++) {
		p = k % 1000
		s = int(k / 1000) % 1000 + 1
		n = int(k / 1000000)
		printf "imp-%04d,%06d,L%d-%03d,2028-%02d-%02d,%d,%s\n", s, \
			800000 + p, n, p, (p + n) % 12 + 1, (p + n) % 28 + 1, \
			k % 997 + pass, at
	}
}'
