#!/bin/sh
# The server bundle: server.ts -> server.js, its dependencies left to node_modules. The one place
# for its esbuild settings: `node build.mjs` runs this script, and so does the Dockerfile's server
# stage. The esbuild binary alone bundles the server in a few hundredths of a second; node with
# esbuild's JS API needs a third of a second more to start, on every server edit (`inv up --watch`).
set -e
cd "$(dirname "$0")"
exec node_modules/.bin/esbuild server.ts --bundle --platform=node --format=esm --target=node20 \
  --packages=external --outfile=server.js --log-level=warning
