"""pytest fixtures for the system tests (helpers live in sluicetest.py)."""

import pytest

from sluicetest import Switch


@pytest.fixture
def sw(tmp_path):
    """A fresh switch configuration in a per-test temporary directory."""
    return Switch(tmp_path)
