#!/usr/bin/env bash
# Entrypoint of the offline mongo:8 stand-in: turns `mongod [flags]` into a
# SecantusDB daemon with the same defaults as the official image's entrypoint
# (see the Dockerfile header). Passwords are never printed.
set -Eeo pipefail

PY=/opt/mongo/bin/python
DAEMON=/opt/mongo/bin/secantusd-py

warn() { printf >&2 'docker-entrypoint.sh: %s\n' "$*"; }

read_env() {
	local name="$1" file_name="${1}_FILE"
	if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
		warn "error: both $name and $file_name are set (but are exclusive)"
		exit 1
	fi
	if [ -n "${!file_name:-}" ]; then
		export "$name"="$(<"${!file_name}")"
	fi
	unset "$file_name"
}

if [ "${1:0:1}" = '-' ]; then
	set -- mongod "$@"
fi

if [ "$1" != mongod ]; then
	exec "$@"
fi
shift

read_env MONGO_INITDB_ROOT_USERNAME
read_env MONGO_INITDB_ROOT_PASSWORD

# `--opt value` form: take the next argument (caller then shifts it).
takeval() { if [ -z "$val" ]; then val="${1:-}"; return 0; fi; return 1; }

host=0.0.0.0 port=27017 dbpath=/data/db auth= loglevel=INFO
while [ $# -gt 0 ]; do
	arg="$1"; shift
	val=
	case "$arg" in
		--*=*) val="${arg#*=}"; arg="${arg%%=*}" ;;
	esac
	case "$arg" in
		--port) takeval "$@" && shift; port="$val" ;;
		--bind_ip)
			takeval "$@" && shift
			case "$val" in
				*,*|'*'|::*) host=0.0.0.0 ;;
				localhost) host=127.0.0.1 ;;
				*) host="$val" ;;
			esac ;;
		--bind_ip_all) host=0.0.0.0 ;;
		--dbpath) takeval "$@" && shift; dbpath="$val" ;;
		--auth) auth=1 ;;
		--noauth) auth= ;;
		--quiet) loglevel=WARNING ;;
		--replSet|--logpath|--wiredTigerCacheSizeGB|--oplogSize|--keyFile|--config|-f|--setParameter|--storageEngine|--logappend)
			# flags taking a value
			if [ -z "$val" ] && [ $# -gt 0 ] && [ "${1:0:1}" != '-' ]; then shift; fi
			warn "ignoring unsupported mongod option $arg" ;;
		*) warn "ignoring unsupported mongod option $arg" ;;
	esac
done

if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ] && [ -n "${MONGO_INITDB_ROOT_PASSWORD:-}" ]; then
	auth=1
elif [ -n "${MONGO_INITDB_ROOT_USERNAME:-}${MONGO_INITDB_ROOT_PASSWORD:-}" ]; then
	warn 'error: missing MONGO_INITDB_ROOT_USERNAME or MONGO_INITDB_ROOT_PASSWORD (both must be specified for a user to be created)'
	exit 1
fi

mkdir -p "$dbpath"
if [ "$(id -u)" = 0 ]; then
	find "$dbpath" \! -user mongodb -exec chown mongodb '{}' +
	run_as=(gosu mongodb)
else
	run_as=()
fi

fresh=
[ -e "$dbpath/WiredTiger" ] || fresh=1

shopt -s nullglob
init_files=(/docker-entrypoint-initdb.d/*)
shopt -u nullglob

if [ -n "$fresh" ] && { [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ] || [ ${#init_files[@]} -gt 0 ]; }; then
	for f in "${init_files[@]}"; do
		case "$f" in
			*.js) warn "error: $f: *.js init scripts need a JavaScript shell, which this stand-in does not have (use *.sh with python/pymongo)"; exit 1 ;;
		esac
	done
	# Temporary server on loopback only, without auth, to provision the root user.
	"${run_as[@]}" "$DAEMON" --host 127.0.0.1 --port 27017 --storage-path "$dbpath" --standalone --log-level WARNING &
	tmp_pid=$!
	"$PY" - <<-'EOF'
		import sys, time, pymongo
		c = pymongo.MongoClient("mongodb://127.0.0.1:27017/?directConnection=true", serverSelectionTimeoutMS=500)
		for _ in range(120):
		    try:
		        c.admin.command("ping"); sys.exit(0)
		    except Exception:
		        time.sleep(0.25)
		sys.exit("docker-entrypoint.sh: temporary server did not start")
	EOF
	if [ -n "${MONGO_INITDB_ROOT_USERNAME:-}" ]; then
		"$PY" - <<-'EOF'
			import os, pymongo
			c = pymongo.MongoClient("mongodb://127.0.0.1:27017/?directConnection=true")
			c.admin.command("createUser", os.environ["MONGO_INITDB_ROOT_USERNAME"],
			                pwd=os.environ["MONGO_INITDB_ROOT_PASSWORD"],
			                roles=[{"role": "root", "db": "admin"}])
			print("docker-entrypoint.sh: created root user %r in admin" % os.environ["MONGO_INITDB_ROOT_USERNAME"])
		EOF
	fi
	export MONGO_INITDB_DATABASE="${MONGO_INITDB_DATABASE:-test}"
	for f in "${init_files[@]}"; do
		case "$f" in
			*.sh) echo "docker-entrypoint.sh: running $f"; . "$f" ;;
			*) echo "docker-entrypoint.sh: ignoring $f" ;;
		esac
	done
	kill -TERM "$tmp_pid"
	wait "$tmp_pid" || true
	echo 'docker-entrypoint.sh: MongoDB init process complete; ready for start up.'
fi

set -- "$DAEMON" --host "$host" --port "$port" --storage-path "$dbpath" --standalone --log-level "$loglevel"
[ -z "$auth" ] || set -- "$@" --auth
exec "${run_as[@]}" "$@"
