#!/bin/sh
# Entrypoint of the offline nginx stand-in, same contract as the official
# image's: when the command is nginx or nginx-debug, the files of
# /docker-entrypoint.d run in version order first (*.envsh are sourced so
# they can export variables for later scripts, *.sh are run; both only when
# executable), then the command is exec'd. NGINX_ENTRYPOINT_QUIET_LOGS=1
# silences these messages.
set -e

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: $*"
}

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    if [ -n "$(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f 2>/dev/null | head -n 1)" ]; then
        say "/docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
            case "$f" in
                *.envsh|*.sh)
                    if [ ! -x "$f" ]; then
                        say "Ignoring $f, not executable"
                    elif [ "${f%.envsh}" != "$f" ]; then
                        say "Sourcing $f"
                        . "$f"
                    else
                        say "Launching $f"
                        "$f"
                    fi ;;
                *) say "Ignoring $f" ;;
            esac
        done
        say "Configuration complete; ready for start up"
    else
        say "No files found in /docker-entrypoint.d/, skipping configuration"
    fi
fi

exec "$@"
