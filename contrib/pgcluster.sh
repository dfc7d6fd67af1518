#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for development and tests.
#
#   pgcluster.sh start DIR            init (if needed) and start; print env
#   pgcluster.sh stop [--remove] DIR  stop (idempotent); --remove deletes DIR
#   pgcluster.sh status DIR           exit 0 running, 3 stopped, 4 no cluster
#   pgcluster.sh env DIR              print env for a running cluster
#
# The cluster lives in DIR/data, logs to DIR/postgres.log and listens only on
# a Unix socket in DIR (listen_addresses = ''). A free port number is still
# picked (from PGCLUSTER_PORT_BASE, default 54320) because it names the
# socket; it is stored in DIR/port. On success `start` and `env` print
#
#   export PGHOST=DIR PGPORT=NNNN PGUSER=postgres
#
# so that `eval "$(contrib/pgcluster.sh start DIR)"` works.
#
# Environment:
#   PGBIN               directory holding initdb/pg_ctl
#                       (default /usr/lib/postgresql/15/bin, else pg_config)
#   PGCLUSTER_FAST=1    fsync, synchronous_commit, full_page_writes off
#                       (tests only; applied at every start)
#   PGCLUSTER_HUGE_PAGES  huge_pages: try (default, PostgreSQL's own), on
#                       (refuse to start without them) or off
#   PGCLUSTER_PORT_BASE first port number to try (default 54320)
#
# As root, initdb/pg_ctl run as the `postgres` OS user (or as the owner of an
# existing DIR/data) and DIR is chowned to it. All diagnostics go to stderr.
set -euo pipefail

prog=${0##*/}
LOCKFILE=/tmp/pgcluster.lock
PORT_RANGE=1000

# Server settings must come from our config file, not from the caller.
unset PGDATA PGHOST PGPORT PGHOSTADDR PGUSER PGDATABASE PGOPTIONS

die() {
  echo "$prog: $*" >&2
  exit 1
}

note() {
  echo "$prog: $*" >&2
}

case ${PGCLUSTER_HUGE_PAGES:-try} in
  try | on | off) ;;
  *) die "PGCLUSTER_HUGE_PAGES=$PGCLUSTER_HUGE_PAGES: try, on or off" ;;
esac

usage() {
  cat >&2 <<EOF
usage: $prog start DIR
       $prog stop [--remove] DIR
       $prog status DIR
       $prog env DIR
EOF
}

find_pgbin() {
  if [[ -n ${PGBIN:-} ]]; then
    :
  elif [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
    PGBIN=/usr/lib/postgresql/15/bin
  elif command -v pg_config >/dev/null 2>&1; then
    PGBIN=$(pg_config --bindir)
  else
    die "cannot find PostgreSQL binaries; set PGBIN or run contrib/deps.sh"
  fi
  [[ -x $PGBIN/pg_ctl && -x $PGBIN/initdb ]] ||
    die "no pg_ctl/initdb in PGBIN=$PGBIN"
}

# Absolute, symlink-free form of $1 (which need not exist).
abspath() {
  realpath -m -- "$1"
}

# Decide which OS user runs the server and set up the `as_pg` wrapper.
setup_user() {
  RUN_AS=()
  PG_OSUSER=$(id -un)
  if ((EUID != 0)); then
    return
  fi
  PG_OSUSER=postgres
  if [[ -d $DATA ]]; then
    local owner
    owner=$(stat -c %U -- "$DATA")
    if [[ $owner != root ]]; then
      PG_OSUSER=$owner
    fi
  fi
  id -u "$PG_OSUSER" >/dev/null 2>&1 ||
    die "running as root, but OS user '$PG_OSUSER' does not exist (initdb refuses root)"
  if command -v runuser >/dev/null 2>&1; then
    RUN_AS=(runuser -u "$PG_OSUSER" --)
  else
    RUN_AS=(su_wrap)
  fi
}

su_wrap() {
  local cmd
  cmd=$(printf '%q ' "$@")
  su "$PG_OSUSER" -s /bin/bash -c "$cmd"
}

# Run a command as the cluster's OS user, from a directory it can enter.
as_pg() {
  (cd / && "${RUN_AS[@]}" "$@")
}

# As root, make sure the server user can reach and own DIR.
prepare_dir_owner() {
  ((EUID == 0)) || return 0
  local d=$DIR
  # Find the first path component the server user cannot traverse.
  local path="" comp
  local -a comps
  IFS=/ read -r -a comps <<<"${d#/}"
  for comp in "${comps[@]}"; do
    path+="/$comp"
    [[ $path == "$d" ]] && break
    if ! as_pg test -x "$path"; then
      die "OS user '$PG_OSUSER' cannot traverse $path" \
        "(mode $(stat -c %a -- "$path"), owner $(stat -c %U -- "$path"));" \
        "chmod o+x it or choose another DIR"
    fi
  done
  if [[ $(stat -c %U -- "$d") != "$PG_OSUSER" ]]; then
    chown "$PG_OSUSER:" -- "$d"
  fi
  chmod u+rwx -- "$d"
}

is_running() {
  [[ -f $DATA/PG_VERSION ]] || return 1
  as_pg "$PGBIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Port of the running server, from postmaster.pid (line 4).
running_port() {
  sed -n 4p -- "$DATA/postmaster.pid" 2>/dev/null
}

print_env() {
  local port=$1
  printf 'export PGHOST=%q PGPORT=%q PGUSER=postgres\n' "$DIR" "$port"
}

# Is a port number taken, by a TCP listener or by a Unix socket named after
# it anywhere on this host?
port_in_use() {
  local p=$1 hex
  if [[ -r /proc/net/tcp ]]; then
    printf -v hex ':%04X' "$p"
    local f
    for f in /proc/net/tcp /proc/net/tcp6; do
      [[ -r $f ]] || continue
      # local_address is field 2 (ADDR:PORT), st is field 4 (0A = LISTEN).
      if awk -v h="$hex" 'NR > 1 && $4 == "0A" &&
          substr($2, length($2) - 4) == h { found = 1 }
          END { exit !found }' "$f"; then
        return 0
      fi
    done
    if [[ -r /proc/net/unix ]] &&
      grep -q "/\.s\.PGSQL\.$p\$" /proc/net/unix; then
      return 0
    fi
    return 1
  elif command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$p") ]] && return 0
    ss -Hlxn | grep -q "/\.s\.PGSQL\.${p}[[:space:]]" && return 0
    return 1
  else
    # Last resort: can we connect to it?
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
  fi
}

pick_port() {
  local base=${PGCLUSTER_PORT_BASE:-54320} p prev=""
  [[ $base =~ ^[0-9]+$ ]] || die "PGCLUSTER_PORT_BASE must be a number"
  if [[ -f $DIR/port ]]; then
    prev=$(<"$DIR/port")
    if [[ $prev =~ ^[0-9]+$ ]] && ! port_in_use "$prev"; then
      echo "$prev"
      return
    fi
  fi
  for ((p = base; p < base + PORT_RANGE && p < 65536; p++)); do
    if ! port_in_use "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free port in $base..$((base + PORT_RANGE - 1))"
}

pick_locale() {
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    echo C.UTF-8
  else
    echo C
  fi
}

# Serialise starts on this host so two clusters never pick the same port.
# fd 9 must be closed for the server (see `9<&-`), else postgres inherits it.
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  if [[ ! -e $LOCKFILE ]]; then
    (umask 000 && : >>"$LOCKFILE") 2>/dev/null || true
  fi
  if exec 9<"$LOCKFILE"; then
    flock -w 300 9 || die "timed out waiting for $LOCKFILE"
  else
    note "warning: cannot open $LOCKFILE; starting without the port lock"
  fi
}

write_conf() {
  local port=$1 fast=off huge=${PGCLUSTER_HUGE_PAGES:-try}
  [[ ${PGCLUSTER_FAST:-0} == 1 ]] && fast=on
  local sockdir=${DIR//\'/\'\'}
  local conf=$DATA/pgcluster.conf
  {
    echo "# Written by contrib/pgcluster.sh at every start; edits are lost."
    echo "listen_addresses = ''"
    echo "port = $port"
    echo "unix_socket_directories = '$sockdir'"
    echo "max_connections = 100"
    echo "shared_buffers = 256MB"
    echo "huge_pages = $huge"
    if [[ $fast == on ]]; then
      echo "# PGCLUSTER_FAST=1: not crash-safe"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    else
      echo "fsync = on"
      echo "synchronous_commit = on"
      echo "full_page_writes = on"
    fi
  } >"$conf.tmp"
  if ((EUID == 0)); then
    chown "$PG_OSUSER:" -- "$conf.tmp"
  fi
  mv -f -- "$conf.tmp" "$conf"
  if ! grep -q "^include_if_exists = 'pgcluster.conf'" "$DATA/postgresql.conf"; then
    printf "\ninclude_if_exists = 'pgcluster.conf'\n" >>"$DATA/postgresql.conf"
  fi
}

write_port_file() {
  echo "$1" >"$DIR/port.tmp"
  if ((EUID == 0)); then
    chown "$PG_OSUSER:" -- "$DIR/port.tmp"
  fi
  mv -f -- "$DIR/port.tmp" "$DIR/port"
}

show_log_tail() {
  if [[ -f $LOG ]]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 25 -- "$LOG" >&2
    echo "---" >&2
  fi
}

cmd_start() {
  # sun_path holds 107 bytes; the socket is DIR/.s.PGSQL.NNNNN.
  local sock="$DIR/.s.PGSQL.65535"
  ((${#sock} <= 107)) ||
    die "DIR is too long for a Unix socket path ($sock > 107 bytes); use a shorter DIR"
  mkdir -p -- "$DIR"
  setup_user
  prepare_dir_owner
  take_lock

  if is_running; then
    note "already running in $DIR"
    print_env "$(running_port)"
    return
  fi

  if [[ ! -f $DATA/PG_VERSION ]]; then
    if [[ -e $DATA ]] && [[ -n $(ls -A -- "$DATA") ]]; then
      die "$DATA exists, is not empty and holds no cluster"
    fi
    local loc
    loc=$(pick_locale)
    # Collation C: every identifier lagerbild indexes (region codes, lots,
    # site codes) is ASCII, and C.UTF-8 orders by code point anyway, but
    # through strcoll, which makes each index insert markedly slower.
    note "initdb $DATA (locale $loc, collation C)"
    local out
    if ! out=$(as_pg "$PGBIN/initdb" -D "$DATA" --auth=trust \
      --username=postgres --encoding=UTF8 --locale="$loc" --lc-collate=C \
      --no-instructions 2>&1 9<&-); then
      echo "$out" >&2
      die "initdb failed for $DATA"
    fi
  fi

  local port
  port=$(pick_port)
  write_conf "$port"
  write_port_file "$port"

  note "starting on socket $DIR/.s.PGSQL.$port"
  if ! as_pg "$PGBIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 -s \
    >&2 9<&-; then
    show_log_tail
    die "pg_ctl start failed for $DATA"
  fi
  print_env "$port"
}

cmd_stop() {
  local remove=$1
  if [[ ! -e $DIR ]]; then
    return 0
  fi
  [[ -d $DIR ]] || die "$DIR is not a directory"
  setup_user
  if is_running; then
    note "stopping $DATA"
    if ! as_pg "$PGBIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 -s >&2; then
      show_log_tail
      die "pg_ctl stop failed for $DATA"
    fi
  fi
  if [[ $remove == 1 ]]; then
    # Refuse to wipe a directory that does not look like ours.
    local f
    for f in "$DIR"/* "$DIR"/.[!.]*; do
      [[ -e $f || -L $f ]] || continue
      case ${f##*/} in
        data | port | port.tmp | postgres.log | .s.PGSQL.*) ;;
        *) die "not removing $DIR: it holds ${f##*/}, which is not ours" ;;
      esac
    done
    rm -rf -- "$DIR"
    note "removed $DIR"
  fi
}

cmd_status() {
  if [[ ! -f $DATA/PG_VERSION ]]; then
    echo "no cluster in $DIR"
    return 4
  fi
  setup_user
  if is_running; then
    echo "running in $DIR, port $(running_port)"
    return 0
  fi
  echo "stopped: $DIR"
  return 3
}

cmd_env() {
  [[ -f $DATA/PG_VERSION ]] || die "no cluster in $DIR; run: $prog start $DIR"
  setup_user
  is_running || die "cluster in $DIR is not running; run: $prog start $DIR"
  print_env "$(running_port)"
}

main() {
  (($# >= 1)) || {
    usage
    exit 2
  }
  local cmd=$1 remove=0 dir=""
  shift
  case $cmd in
    -h | --help | help)
      usage
      exit 0
      ;;
  esac
  while (($#)); do
    case $1 in
      --remove)
        [[ $cmd == stop ]] || die "--remove is only valid with stop"
        remove=1
        ;;
      -*) die "unknown option: $1" ;;
      *)
        [[ -z $dir ]] || die "only one DIR allowed"
        dir=$1
        ;;
    esac
    shift
  done
  [[ -n $dir ]] || {
    usage
    exit 2
  }

  DIR=$(abspath "$dir")
  [[ $DIR != / ]] || die "refusing to use / as DIR"
  DATA=$DIR/data
  LOG=$DIR/postgres.log
  find_pgbin

  case $cmd in
    start) cmd_start ;;
    stop) cmd_stop "$remove" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"
