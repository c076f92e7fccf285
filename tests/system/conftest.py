"""pytest fixtures for the system tests (helpers live in sluicetest.py)."""

import subprocess

import pytest

from sluicetest import Switch, Topology, need_root


@pytest.fixture
def sw(tmp_path):
    """A fresh switch configuration in a per-test temporary directory."""
    return Switch(tmp_path)


@pytest.fixture
def topo():
    """Network namespaces for live-port tests; skips, with the reason shown
    in the summary, where the test cannot create them (not root, no
    iproute2, no permission in a container)."""
    need_root()
    t = Topology()
    probe = "%s-probe" % t.tag
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True,
                       text=True, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        pytest.skip("cannot create network namespaces: " + r.stderr.strip())
    subprocess.run(["ip", "netns", "del", probe], capture_output=True,
                   stdin=subprocess.DEVNULL)
    try:
        yield t
    finally:
        t.close()
