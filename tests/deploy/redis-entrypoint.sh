#!/bin/sh
# What the official redis image's entrypoint does for `redis-server` without a config file:
# options only (`-…`) mean redis-server, and protected mode is turned off (redis then listens on
# every interface of the container, which the compose network keeps private).
set -e
if [ "${1#-}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    case " $* " in
        *" --protected-mode "*) ;;
        *) set -- "$@" --protected-mode no ;;
    esac
fi
exec "$@"
