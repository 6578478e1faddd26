"""`mongosh` shim of the offline mongo:8 stand-in (Python + pymongo, no JavaScript).

Supports what health checks run against the official image:
  mongosh [--quiet] [--norc] [URI | HOST[:PORT][/DB]] [--host H] [--port P]
          [-u USER] [-p PASS] [--authenticationDatabase DB] --eval EXPR
  echo EXPR | mongosh [options] [URI]
where EXPR is a ping, optionally followed by `.ok` and/or `;`, or wrapped as
`quit(<ping>.ok ? 0 : N)`:
  db.adminCommand('ping')   db.adminCommand({ping: 1})
  db.runCommand({ping: 1})  db.runCommand("ping")   db.getSiblingDB('admin').runCommand(...)
Exit 0 when the server answers the ping with ok: 1, 1 when it cannot be reached
or answers otherwise, 2 (with a one-line message) for anything unsupported.
"""

import re
import sys

PING = (
    r"db(?:\.getSiblingDB\(\s*['\"][\w-]+['\"]\s*\))?\.(?:adminCommand|runCommand)\(\s*"
    r"(?:'ping'|\"ping\"|\{\s*['\"]?ping['\"]?\s*:\s*(?:1|1\.0|true)\s*\})\s*\)"
)
PLAIN = re.compile(r"^(?P<ping>" + PING + r")(?P<ok>\.ok)?$")
QUIT = re.compile(r"^quit\(\s*" + PING + r"\.ok\s*(?:===?\s*1\s*)?\?\s*0\s*:\s*(?P<code>\d+)\s*\)$")


def unsupported(what):
    print(f"mongosh (offline stand-in): unsupported {what}", file=sys.stderr)
    sys.exit(2)


def parse(argv):
    opts = {"uri": None, "host": None, "port": None, "user": None, "password": None, "authdb": None, "evals": []}
    with_value = {
        "--eval": "evals",
        "--host": "host",
        "--port": "port",
        "-u": "user",
        "--username": "user",
        "-p": "password",
        "--password": "password",
        "--authenticationDatabase": "authdb",
    }
    flags = {"--quiet", "--norc", "--nodb", "--shell"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in with_value:
            if eq:
                value = inline
            else:
                i += 1
                if i >= len(argv):
                    unsupported(f"option without value: {arg}")
                value = argv[i]
            key = with_value[name]
            if key == "evals":
                opts["evals"].append(value)
            else:
                opts[key] = value
        elif arg in flags:
            if arg in ("--nodb", "--shell"):
                unsupported(f"option {arg}")
        elif arg.startswith("-"):
            unsupported(f"option {arg}")
        elif opts["uri"] is None:
            opts["uri"] = arg
        else:
            unsupported(f"extra argument {arg!r} (script files are not supported)")
        i += 1
    return opts


def client_uri(opts):
    uri = opts["uri"]
    if uri and uri.startswith(("mongodb://", "mongodb+srv://")):
        return uri
    host, port, db = opts["host"] or "127.0.0.1", opts["port"], None
    if uri:
        # HOST[:PORT][/DB] or a bare database name.
        m = re.match(r"^(?:(?P<h>[\w.\-]+|\[[0-9a-fA-F:]+\])(?::(?P<p>\d+))?/)?(?P<db>[\w\-]*)$", uri)
        m2 = re.match(r"^(?P<h>[\w.\-]+|\[[0-9a-fA-F:]+\]):(?P<p>\d+)$", uri)
        if m2:
            host, port = m2["h"], m2["p"]
        elif m and m["h"]:
            host, port, db = m["h"], m["p"] or port, m["db"]
        elif m and "." not in uri:
            db = m["db"]
        else:
            host = uri
    if ":" in host and not host.startswith("["):
        host, _, port2 = host.partition(":")
        port = port or port2
    return f"mongodb://{host}:{port or 27017}/{db or ''}?directConnection=true"


def main(argv):
    opts = parse(argv)
    script = opts["evals"]
    if not script:
        if sys.stdin is None or sys.stdin.isatty():
            unsupported("interactive shell (use --eval)")
        script = [sys.stdin.read()]
    exprs = [e for chunk in script for e in re.split(r"[;\n]+", chunk) if e.strip()]
    if len(exprs) != 1:
        unsupported("script: only a single ping expression is understood")
    expr = re.sub(r"\s+", " ", exprs[0].strip())
    plain, quit_ = PLAIN.match(expr), QUIT.match(expr)
    if not (plain or quit_):
        unsupported(f"expression: {expr[:120]}")

    import pymongo  # imported late: unsupported forms fail fast

    kwargs = {"serverSelectionTimeoutMS": 2000, "connectTimeoutMS": 2000}
    if opts["user"] is not None:
        kwargs["username"] = opts["user"]
        kwargs["password"] = opts["password"] or ""
        if opts["authdb"]:
            kwargs["authSource"] = opts["authdb"]
    try:
        client = pymongo.MongoClient(client_uri(opts), **kwargs)
        reply = client.admin.command("ping")
    except Exception as exc:  # noqa: BLE001 - connection refused, timeout, auth failure...: one line, exit 1
        print(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    ok = reply.get("ok") == 1
    if quit_:
        return 0 if ok else int(quit_["code"])
    if plain["ok"]:
        print(1 if ok else 0)
    else:
        print("{ ok: 1 }" if ok else "{ ok: 0 }")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
