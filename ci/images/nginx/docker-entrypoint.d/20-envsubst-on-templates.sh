#!/bin/sh
# Renders /etc/nginx/templates/**/*.template into /etc/nginx/conf.d/ with
# envsubst, substituting only variables that are set in the environment (so
# nginx's own $host, $uri... survive). Same knobs as the official image:
# NGINX_ENVSUBST_TEMPLATE_DIR, NGINX_ENVSUBST_TEMPLATE_SUFFIX,
# NGINX_ENVSUBST_OUTPUT_DIR, NGINX_ENVSUBST_FILTER (regex on variable names).
set -e
dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
out="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
filter="${NGINX_ENVSUBST_FILTER:-}"
[ -d "$dir" ] || exit 0
if [ ! -w "$out" ]; then
    echo "$0: ERROR: $dir exists, but $out is not writable"
    exit 0
fi
vars=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E -- "${filter:-.}" | sed 's/.*/${&}/' | tr '\n' ' ')
find "$dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    rel="${template#"$dir"/}"
    target="$out/${rel%"$suffix"}"
    mkdir -p "$(dirname "$target")"
    echo "$0: Running envsubst on $template to $target"
    envsubst "$vars" < "$template" > "$target"
done
