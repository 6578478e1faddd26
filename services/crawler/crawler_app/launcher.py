"""The image's entrypoint (root, under tini): start the browser server as the
``browser`` user, then become ``crawler`` and run the app (the image's CMD).

    python -m crawler_app.launcher uvicorn app:app --host 0.0.0.0 --port 4999

Chromium renders hostile pages without its sandbox on Fargate (no user
namespaces there, see browser.py), so it runs as a user of its own: a renderer
exploit lands as ``browser``, which can read neither the container's and the
app's environment (/proc/<pid>/environ of another user) nor the app's memory.
The server (Playwright's ``run-server``, listening on 127.0.0.1 only, so on
Fargate only this task's own processes reach it) gets a minimal environment,
which Chromium inherits. ``--unsafe`` lets its one client, the app, choose the
browser's arguments and binary; anything that can reach the port can already
run code as ``browser``. Both processes run with ``no_new_privs``: no setuid
binary in the image can raise them again.

Not started as root (a task definition that sets ``user``), it runs the app as
it is; the app then launches Chromium itself, with a minimal environment.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import socket
import subprocess
import sys
import time
from typing import Optional, Sequence

BROWSER_USER = "browser"
APP_USER = "crawler"
SERVER_HOST = "127.0.0.1"
DEFAULT_PORT = 9323
READY_TIMEOUT = 20.0  # seconds for the server to listen
PR_SET_NO_NEW_PRIVS = 38


def say(message: str) -> None:
    print(f"launcher: {message}", file=sys.stderr, flush=True)


def no_new_privs() -> None:
    """From here on, exec never grants privileges (setuid bits, file capabilities)."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


def driver_paths() -> tuple[str, str]:
    """Playwright's Node binary and CLI, as the Python package ships them."""
    from playwright._impl._driver import compute_driver_executable

    node, cli = compute_driver_executable()
    return str(node), str(cli)


def server_env(home: str) -> dict[str, str]:
    """All the browser server (and so Chromium) is given: nothing secret."""
    return {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}


def start_browser_server(
    user: str, port: int, driver: Optional[tuple[str, str]] = None, home: Optional[str] = None
) -> subprocess.Popen:
    """Playwright's browser server as ``user`` (no supplementary groups), minimal env."""
    account = pwd.getpwnam(user)
    node, cli = driver or driver_paths()
    home = home or account.pw_dir
    return subprocess.Popen(
        [node, cli, "run-server", "--host", SERVER_HOST, "--port", str(port), "--unsafe"],
        env=server_env(home),
        cwd=home,
        user=account.pw_uid,
        group=account.pw_gid,
        extra_groups=[],
        preexec_fn=no_new_privs,  # the launcher is single-threaded: safe here
        stdin=subprocess.DEVNULL,
    )


def wait_listening(server: subprocess.Popen, port: int, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"the browser server exited with {server.returncode} before listening")
        try:
            with socket.create_connection((SERVER_HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the browser server did not listen on {SERVER_HOST}:{port} within {timeout:g} s")
            time.sleep(0.05)


def become(user: str) -> None:
    """Drop root for good: ``user``'s uid and gid, no supplementary groups."""
    account = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
    os.environ.update(HOME=account.pw_dir, USER=user, LOGNAME=user)
    no_new_privs()


def main(argv: Sequence[str]) -> None:
    if not argv:
        say("usage: python -m crawler_app.launcher COMMAND [ARGS...]")
        sys.exit(2)
    if os.geteuid() != 0:
        say("not root: the app launches Chromium itself (minimal environment, same user)")
        os.execvp(argv[0], list(argv))
    port = int(os.environ.get("CRAWLER_BROWSER_PORT") or DEFAULT_PORT)
    try:
        server = start_browser_server(BROWSER_USER, port)
        wait_listening(server, port)
    except (KeyError, OSError, RuntimeError) as exc:
        say(f"error: cannot start the browser server as {BROWSER_USER}: {exc}")
        sys.exit(1)
    become(APP_USER)
    os.environ["CRAWLER_BROWSER_ENDPOINT"] = f"ws://{SERVER_HOST}:{port}/"
    say(f"browser server pid {server.pid} as {BROWSER_USER}; app as {APP_USER}")
    os.execvp(argv[0], list(argv))  # the server stays this process's child


if __name__ == "__main__":
    main(sys.argv[1:])
