#!/bin/sh
# Adds `listen [::]:80;` to the packaged default.conf when the container has
# IPv6 and the file is still the packaged one (as the official image does).
set -e
conf=/etc/nginx/conf.d/default.conf
[ -f /proc/net/if_inet6 ] || { echo "$0: info: ipv6 not available"; exit 0; }
[ -f "$conf" ] && [ -w "$conf" ] || exit 0
if ! cmp -s "$conf" /usr/share/nginx/default.conf.orig; then
    echo "$0: info: $conf differs from the packaged version"
    exit 0
fi
sed -i -E 's,listen       80;,listen       80;\n    listen  [::]:80;,' "$conf"
echo "$0: info: Enabled listen on IPv6 in $conf"
