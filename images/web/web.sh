#!/bin/sh
# busybox httpd serving /www on $PORT; requests are logged to stderr (docker logs).
# sh stays PID 1 so SIGTERM stops the server at once instead of being ignored.
trap 'kill "$server" 2>/dev/null; exit 0' TERM INT
httpd -f -vv -p "${PORT:-80}" -h /www &
server=$!
wait "$server"
