#!/bin/bash
# Entrypoint of the offline localstack/localstack:4.14.0 stand-in (see the
# Dockerfile header): exports LOCALSTACK_<NAME> as <NAME>, runs the boot.d
# init hooks, then execs the runtime as PID 1 (SIGTERM -> clean shutdown,
# which also runs shutdown.d). start.d and ready.d are run by the runtime.
set -eo pipefail
shopt -s nullglob

while IFS='=' read -r name _; do
	case "$name" in
		LOCALSTACK_HOST|LOCALSTACK_HOSTNAME|LOCALSTACK_[0-9]*) ;;
		LOCALSTACK_?*) export "${name#LOCALSTACK_}=${!name}" ;;
	esac
done < <(env | grep -E '^LOCALSTACK_[A-Za-z0-9_]+=' || true)

mkdir -p /var/lib/localstack/logs

if [ $# -gt 0 ]; then
	exec "$@"
fi

boot_scripts=(/etc/localstack/init/boot.d/*)
if [ ${#boot_scripts[@]} -gt 0 ]; then
	python -m localstack.runtime.init BOOT
fi

exec python -m localstack.runtime.main
