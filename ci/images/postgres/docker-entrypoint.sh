#!/usr/bin/env bash
# Entrypoint of the offline postgres:17 stand-in. Same contract as the official
# image's entrypoint: see the Dockerfile header. The password is never printed.
set -Eeo pipefail

log() { printf '%s: %s\n' "$(basename "$0")" "$*"; }

# VAR or VAR_FILE (Docker secrets), not both.
read_env() {
	local name="$1" default="${2:-}" file_name="${1}_FILE" value
	if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
		printf >&2 'error: both %s and %s are set (but are exclusive)\n' "$name" "$file_name"
		exit 1
	fi
	value="$default"
	if [ -n "${!name:-}" ]; then
		value="${!name}"
	elif [ -n "${!file_name:-}" ]; then
		value="$(<"${!file_name}")"
	fi
	export "$name"="$value"
	unset "$file_name"
}

load_settings() {
	read_env POSTGRES_PASSWORD
	read_env POSTGRES_USER postgres
	read_env POSTGRES_DB "$POSTGRES_USER"
	read_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=}"
	CLUSTER_EXISTS=
	if [ -s "$PGDATA/PG_VERSION" ]; then
		CLUSTER_EXISTS=yes
	fi
}

prepare_dirs() {
	mkdir -p "$PGDATA"
	chmod 00700 "$PGDATA" || :
	mkdir -p /var/run/postgresql || :
	chmod 03775 /var/run/postgresql || :
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		mkdir -p "$POSTGRES_INITDB_WALDIR"
		[ "$(id -u)" != 0 ] || find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres '{}' +
		chmod 700 "$POSTGRES_INITDB_WALDIR"
	fi
	if [ "$(id -u)" = 0 ]; then
		find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
		find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
	fi
}

check_required_env() {
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
		cat >&2 <<-'EOF'
		Error: Database is uninitialized and superuser password is not specified.
		       You must specify POSTGRES_PASSWORD to a non-empty value for the
		       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

		       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
		       connections without a password. This is *not* recommended.
		EOF
		exit 1
	fi
	if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
		echo >&2 'WARNING: POSTGRES_HOST_AUTH_METHOD=trust: any host may connect without a password.'
	fi
}

run_initdb() {
	# initdb wants the running uid in /etc/passwd: fake it for arbitrary --user uids.
	if ! getent passwd "$(id -u)" >/dev/null 2>&1; then
		local lib
		for lib in /usr/lib/*/libnss_wrapper.so /usr/lib/libnss_wrapper.so; do
			if [ -s "$lib" ]; then
				NSS_WRAPPER_PASSWD="$(mktemp)"
				NSS_WRAPPER_GROUP="$(mktemp)"
				export LD_PRELOAD="$lib" NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
				printf 'postgres:x:%s:%s:PostgreSQL:%s:/bin/false\n' "$(id -u)" "$(id -g)" "$PGDATA" >"$NSS_WRAPPER_PASSWD"
				printf 'postgres:x:%s:\n' "$(id -g)" >"$NSS_WRAPPER_GROUP"
				break
			fi
		done
	fi
	local extra=()
	if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
		extra=(--waldir "$POSTGRES_INITDB_WALDIR")
	fi
	# The password goes through a pipe, never argv or the log; initdb rejects an
	# empty pwfile, hence the trailing newline. POSTGRES_INITDB_ARGS is word-split
	# with shell quoting, as upstream does.
	eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"' "${extra[@]}"'
	if [[ "${LD_PRELOAD:-}" == */libnss_wrapper.so ]]; then
		rm -f "$NSS_WRAPPER_PASSWD" "$NSS_WRAPPER_GROUP"
		unset LD_PRELOAD NSS_WRAPPER_PASSWD NSS_WRAPPER_GROUP
	fi
}

# initdb (no --auth flags) writes trust for local sockets and loopback; every
# other host must authenticate with the server's password_encryption
# (scram-sha-256) unless POSTGRES_HOST_AUTH_METHOD says otherwise.
write_hba() {
	[ "${1:-}" != postgres ] || shift
	local method
	method="$(postgres -C password_encryption "$@")"
	: "${POSTGRES_HOST_AUTH_METHOD:=$method}"
	{
		printf '\n'
		[ "$POSTGRES_HOST_AUTH_METHOD" != trust ] || printf '# warning trust is enabled for all connections\n'
		printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
	} >>"$PGDATA/pg_hba.conf"
}

sql() {
	local cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
	[ -z "$POSTGRES_DB" ] || cmd+=(--dbname "$POSTGRES_DB")
	PGHOST= PGHOSTADDR= "${cmd[@]}" "$@"
}

temp_server_start() {
	[ "${1:-}" != postgres ] || shift
	# Socket only: nothing outside the container sees a half-initialised server.
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	NOTIFY_SOCKET= PGUSER="${PGUSER:-$POSTGRES_USER}" \
		pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
	PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

create_db() {
	local found
	found="$(POSTGRES_DB= sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db' ;
	EOSQL
	)"
	if [ -z "$found" ]; then
		POSTGRES_DB= sql --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
	fi
}

run_init_scripts() {
	local f
	for f; do
		case "$f" in
			*.sh)
				if [ -x "$f" ]; then
					log "running $f"; "$f"
				else
					log "sourcing $f"; . "$f"
				fi ;;
			*.sql) log "running $f"; sql -f "$f" ;;
			*.sql.gz) log "running $f"; gunzip -c "$f" | sql ;;
			*.sql.xz) log "running $f"; xzcat "$f" | sql ;;
			*.sql.zst) log "running $f"; zstd -dc "$f" | sql ;;
			*) log "ignoring $f" ;;
		esac
	done
}

wants_help() {
	local a
	for a; do
		case "$a" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
	done
	return 1
}

main() {
	if [ "${1:0:1}" = '-' ]; then
		set -- postgres "$@"
	fi
	if [ "$1" = postgres ] && ! wants_help "$@"; then
		load_settings
		prepare_dirs
		if [ "$(id -u)" = 0 ]; then
			exec gosu postgres "$BASH_SOURCE" "$@"
		fi
		if [ -z "$CLUSTER_EXISTS" ]; then
			check_required_env
			ls /docker-entrypoint-initdb.d/ >/dev/null
			run_initdb
			write_hba "$@"
			export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
			temp_server_start "$@"
			create_db
			shopt -s nullglob
			run_init_scripts /docker-entrypoint-initdb.d/*
			shopt -u nullglob
			temp_server_stop
			unset PGPASSWORD
			printf '\nPostgreSQL init process complete; ready for start up.\n\n'
		else
			printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
		fi
	fi
	exec "$@"
}

main "$@"
