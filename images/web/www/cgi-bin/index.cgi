#!/bin/sh
# GET / : one line, "host=<hostname> client=<addr>:<port>[ message=<$MESSAGE>]".
# httpd listens dual-stack, so IPv4 clients arrive as [::ffff:a.b.c.d]: report a.b.c.d.
client=${REMOTE_ADDR#\[::ffff:}
client=${client%]}
printf 'Content-Type: text/plain\r\n\r\n'
printf 'host=%s client=%s:%s' "$(hostname)" "$client" "$REMOTE_PORT"
[ -n "$MESSAGE" ] && printf ' message=%s' "$MESSAGE"
printf '\n'
