"""Machine packages that `make run` and `make test` need, installed once when we can.

PostGIS on the PostgreSQL server, and Debian's chromium for the browser tests. As root
on Debian a missing package is installed with apt-get, under a file lock so that two
callers at once (two test workers, `make run` beside `make test`) wait for each other
instead of one losing apt's own lock; everywhere else one message names the package to
install and nothing else runs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = Path(tempfile.gettempdir()) / "youthlink-apt.lock"
APT_LOCK_TIMEOUT_S = 600  # apt waits this long for dpkg's own lock (e.g. unattended-upgrades)


class MissingDependency(RuntimeError):
    """A package the command needs is absent and cannot be installed from here."""


def say(message: str) -> None:
    print(f"[youthlink] {message}", file=sys.stderr, flush=True)


def can_install() -> bool:
    """Root on a machine with apt-get (Debian, Ubuntu)."""
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


@contextmanager
def _apt_lock() -> Iterator[None]:
    with LOCK_FILE.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_package(package: str, present: Callable[[], bool], needed_for: str) -> None:
    """Make `present()` true by installing Debian `package`, or raise MissingDependency."""
    if present():
        return
    if not can_install():
        raise MissingDependency(
            f"{needed_for} needs the package {package}, which is not installed. Install it "
            f"(Debian/Ubuntu: `sudo apt-get install {package}`; elsewhere, your system's "
            f"equivalent), then run this again."
        )
    with _apt_lock():
        if present():  # another caller installed it while we waited
            return
        say(f"{package} is missing ({needed_for}): installing it with apt-get, once")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        timeout = ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_S}"]
        subprocess.run(["apt-get", *timeout, "update", "-qq"], check=True, env=env)  # noqa: S603,S607
        subprocess.run(  # noqa: S603
            ["apt-get", *timeout, "install", "-y", "-qq", package],  # noqa: S607
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        say(f"{package} installed")
    if not present():
        raise MissingDependency(f"{package} was installed but {needed_for} still cannot use it.")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def ensure_chromium() -> str:
    """Debian's chromium, which the browser tests drive headless."""
    ensure_package("chromium", lambda: chromium_path() is not None, "the browser tests")
    path = chromium_path()
    assert path is not None
    return path


__all__ = ["MissingDependency", "chromium_path", "ensure_chromium", "ensure_package", "say"]
