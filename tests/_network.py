"""Shared by the tests that expect downloads to fail on this offline machine."""

from __future__ import annotations

import socket


def resolves(host: str) -> bool:
    """True when DNS answers, i.e. a download would really start (and take long)."""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True
