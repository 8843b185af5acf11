#!/bin/sh
# GET / : one line, "host=<hostname> client=<addr>:<port>[ message=<$MESSAGE>]
#         [ upstream=[<the answer of http://$UPSTREAM/>]]".
# httpd listens dual-stack, so IPv4 clients arrive as [::ffff:a.b.c.d]: report a.b.c.d.
# With $UPSTREAM set (a service name, e.g. "backend"), each request also calls that service, so
# a two-tier app shows which backend pod answered its frontend pod.
client=${REMOTE_ADDR#\[::ffff:}
client=${client%]}
printf 'Content-Type: text/plain\r\n\r\n'
printf 'host=%s client=%s:%s' "$(hostname)" "$client" "$REMOTE_PORT"
[ -n "$MESSAGE" ] && printf ' message=%s' "$MESSAGE"
if [ -n "$UPSTREAM" ]; then
    answer=$(timeout 5 wget -qO- "http://$UPSTREAM/" 2>&1) || answer="unreachable: $answer"
    printf ' upstream=[%s]' "$(echo "$answer" | tr '\n' ' ' | sed 's/ *$//')"
fi
printf '\n'
