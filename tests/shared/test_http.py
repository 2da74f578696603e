"""The shared HTTP transport reads the environment once, not on every request."""

from __future__ import annotations

from typing import Any

import pytest

from shared.http import default_verify, proxies_configured, transport


def _session(t: Any) -> Any:
    return t.session


def test_without_proxy_variables_the_session_stops_trusting_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    # Regression: azure-core configures only sessions it creates, so a handed-in session kept
    # trust_env=True and re-read proxies and ~/.netrc on every request.
    assert _session(transport()).trust_env is False


def test_a_proxy_variable_keeps_requests_per_request_handling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert proxies_configured()
    assert _session(transport()).trust_env is True


def test_verification_prefers_the_configured_ca_then_the_environment_bundle() -> None:
    env = {"REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"}
    assert default_verify("/tmp/sim-ca.pem", env) == "/tmp/sim-ca.pem"
    assert default_verify(None, env) == "/etc/ssl/bundle.pem"
    assert default_verify(None, {"CURL_CA_BUNDLE": "/c.pem"}) == "/c.pem"
    assert default_verify(None, {}) is True


def test_the_transport_verifies_with_the_configured_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    t: Any = transport(ca_cert="/tmp/sim-ca.pem")
    assert t.connection_config.verify == "/tmp/sim-ca.pem"
