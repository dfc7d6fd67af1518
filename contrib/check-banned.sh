#!/usr/bin/env bash
# Fail if C sources call banned functions or build SQL with snprintf.
#
#   contrib/check-banned.sh [DIR...]   (default: src importers reports tests)
#
# Prints FILE:LINE: TEXT for each hit; exits 1 if there are any, else 0.
# Lines that are only comments (starting with //, /* or *) are not checked.
set -euo pipefail

BANNED=(sprintf vsprintf strcpy strcat strtok sscanf atoi atol gets)
SQL_WORDS='SELECT|INSERT|UPDATE|DELETE'

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if (($#)); then
  dirs=("$@")
else
  dirs=(src importers reports tests)
fi

existing=()
for d in "${dirs[@]}"; do
  [[ -d $d ]] && existing+=("$d")
done
((${#existing[@]})) || exit 0

mapfile -d '' files < <(find "${existing[@]}" -type f \
  \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)
((${#files[@]})) || exit 0

banned_re="\\b($(
  IFS='|'
  echo "${BANNED[*]}"
))\\s*\\("
comment_re='[[:space:]]*(//|/\*|\*)'
status=0

# 1. Banned calls.
if hits=$(grep -nHE "$banned_re" -- "${files[@]}" |
  grep -vE "^[^:]+:[0-9]+:$comment_re"); then
  echo "banned functions (${BANNED[*]}):"
  echo "$hits"
  status=1
fi

# 2. SQL built with snprintf: a snprintf/vsnprintf statement (up to its ';',
# possibly over several lines) with a string literal holding a SQL verb.
if hits=$(awk -v words="$SQL_WORDS" '
  # mawk: no anchors inside groups, so pad with spaces instead.
  BEGIN { verb = "\"([^\"]*[^A-Za-z0-9_\"])?(" words ")[^A-Za-z0-9_]" }
  FNR == 1 { inside = 0 }
  {
    line = " " $0 " "
    if (!inside && line ~ /[^A-Za-z0-9_]v?snprintf[ \t]*\(/ &&
        line !~ /^ [ \t]*(\/\/|\/\*|\*)/) {
      inside = 1; start = FNR; first = $0; stmt = ""
    }
    if (inside) {
      stmt = stmt line
      if (line ~ /;/) {
        inside = 0
        if (stmt ~ verb)
          printf "%s:%d:%s\n", FILENAME, start, first
      }
    }
  }' "${files[@]}") && [[ -n $hits ]]; then
  echo "SQL built with snprintf (use parameterised queries):"
  echo "$hits"
  status=1
fi

exit "$status"
