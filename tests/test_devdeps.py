"""make deps: what cannot be installed here stops with one message naming the package."""

from __future__ import annotations

import pytest

from service import devdeps


def test_a_missing_package_that_cannot_be_installed_is_named_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devdeps.os, "geteuid", lambda: 1000)  # not root
    with pytest.raises(devdeps.MissingDependency) as refused:
        devdeps.ensure_package("chromium", lambda: False, "the browser tests")
    message = str(refused.value)
    assert "chromium" in message and "apt-get install chromium" in message
    assert "the browser tests" in message


def test_a_present_package_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_apt(*args: object, **kwargs: object) -> None:
        raise AssertionError("apt-get must not run")

    monkeypatch.setattr(devdeps.subprocess, "run", no_apt)
    devdeps.ensure_package("chromium", lambda: True, "the browser tests")


def test_root_on_debian_installs_once_under_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []
    installed = {"done": False}

    def apt(command: list[str], **kwargs: object) -> None:
        calls.append(command)
        if "install" in command:
            installed["done"] = True

    monkeypatch.setattr(devdeps, "can_install", lambda: True)
    monkeypatch.setattr(devdeps.subprocess, "run", apt)
    devdeps.ensure_package("chromium", lambda: installed["done"], "the browser tests")
    devdeps.ensure_package("chromium", lambda: installed["done"], "the browser tests")
    assert [c[-1] for c in calls] == ["-qq", "chromium"]  # update, install: once
