#!/bin/sh
# The entrypoint of orch/redis, as the redis image most manifests are written for has it:
# arguments that start with "-" (or name a .conf file) go to redis-server; a server started
# without a configuration file listens on every address with protected mode off (the pod
# network is the boundary; set a password with --requirepass).
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    case " $* " in
        *" --protected-mode "* | *".conf "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
