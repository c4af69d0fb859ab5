"""Run a command with its stderr on a pseudo-terminal, as a user at a terminal sees it (progress displays
are drawn only there), with stdout piped."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import threading

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run_on_terminal(cmd: list[str], *, timeout: float = 120, **kwargs) -> tuple[int, str, str]:
    """(exit code, stdout, what the terminal showed with escape codes removed)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, timeout=timeout,
                              text=True, **kwargs)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    return proc.returncode, proc.stdout, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
