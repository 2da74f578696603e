"""An ARM read's first attempt, made without azure-core's pipeline (``ArmClient.read``): it
must send, count, pace, retry and fail exactly as a read through the pipeline would."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import responses
from azure.core.credentials import AccessToken

from shared.arm import ArmClient, ArmError, ArmReader, TransientArmError
from shared.arm.throttle import ThrottleGates
from shared.http import HeadersPolicy

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for ARM

ARM = "https://management.example"
NSG = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n1"
URL = f"{ARM}{NSG}?api-version=2024-05-01"
THROTTLED = {"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}


class CountingCredential:
    """Hands out token-1, token-2, ... each ``lifetime`` seconds long, counting the asks."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.asked = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.asked += 1
        return AccessToken(f"token-{self.asked}", int(time.time() + self.lifetime))


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _client(credential: Any = None, **kwargs: Any) -> ArmClient:
    kwargs.setdefault("max_retries", 0)
    return ArmClient(ARM, credential or CountingCredential(), **kwargs)


@responses.activate
def test_a_read_carries_the_token_and_user_agent_and_is_counted_once() -> None:
    responses.get(URL, json={"id": NSG})
    client = _client()
    assert client.read(URL, kind="resource").json() == {"id": NSG}
    sent = responses.calls[0].request
    assert sent.headers["Authorization"] == "Bearer token-1"
    assert sent.headers["User-Agent"].startswith("phiguard/0.1 azsdk-python-core/")
    assert client.counts.by_kind == {"resource": 1}


@responses.activate
def test_a_throttled_first_read_waits_at_its_gate_then_goes_through_the_pipeline() -> None:
    responses.get(URL, status=429, json=THROTTLED, headers={"Retry-After": "7"})
    responses.get(URL, json={"id": NSG})
    fake = FakeTime()
    gates = ThrottleGates(clock=fake.clock, sleep=fake.sleep)
    client = _client(gates=gates, max_retries=3)
    assert client.read(URL, kind="resource").json() == {"id": NSG}
    assert len(responses.calls) == 2 and client.counts.calls == 1
    assert fake.slept == [7.0]  # the gate held the retry for ARM's Retry-After, once
    assert gates.thread_requests() == 2  # both attempts passed the gate


@responses.activate
def test_a_first_read_answered_503_is_retried_after_its_retry_after() -> None:
    responses.get(URL, status=503, headers={"Retry-After": "0.2"})
    responses.get(URL, json={"id": NSG})
    client = _client(max_retries=2)
    started = time.monotonic()
    assert client.read(URL, kind="resource").json() == {"id": NSG}
    assert time.monotonic() - started >= 0.2
    assert len(responses.calls) == 2


@responses.activate
def test_the_first_attempt_counts_against_the_retry_budget() -> None:
    for _ in range(5):
        responses.get(URL, status=500)
    client = _client(max_retries=2)
    with pytest.raises(TransientArmError, match="ARM 500"):
        client.read(URL, kind="resource")
    assert len(responses.calls) == 3  # one attempt and two retries, as through the pipeline


@responses.activate
@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"status": 503}, "ARM 503"),
        ({"status": 429, "json": THROTTLED}, "ARM 429"),
        ({"body": requests.exceptions.ConnectionError("refused")}, "unreachable"),
    ],
)
def test_without_retries_a_failed_first_read_is_final(answer: dict[str, Any], match: str) -> None:
    responses.get(URL, **answer)
    with pytest.raises(TransientArmError, match=match):
        _client().read(URL, kind="resource")
    assert len(responses.calls) == 1


@responses.activate
def test_a_lost_connection_is_retried_through_the_pipeline() -> None:
    responses.get(URL, body=requests.exceptions.ConnectionError("reset"))
    responses.get(URL, json={"id": NSG})
    assert _client(max_retries=1).read(URL, kind="resource").json() == {"id": NSG}
    assert len(responses.calls) == 2


@responses.activate
def test_a_retry_after_beyond_the_budget_is_raised_without_sleeping() -> None:
    responses.get(URL, status=429, json=THROTTLED, headers={"Retry-After": "60"})
    client = _client(max_retries=4, retry_budget_seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientArmError, match="Retry-After 60"):
        client.read(URL, kind="resource")
    assert time.monotonic() - started < 3 and len(responses.calls) == 1


@responses.activate
def test_a_401_drops_the_held_token_and_one_with_a_challenge_goes_to_the_pipeline() -> None:
    expired = {"error": {"code": "ExpiredAuthenticationToken", "message": "expired"}}
    responses.get(URL, status=401, json=expired)
    credential = CountingCredential()
    client = _client(credential)
    with pytest.raises(ArmError, match="ARM 401 ExpiredAuthenticationToken"):
        client.read(URL, kind="resource")
    assert len(responses.calls) == 1  # as through the pipeline: no challenge, no second try
    responses.reset()
    challenge = 'Bearer authorization_uri="https://login.example", error="invalid_token"'
    responses.get(URL, status=401, json=expired, headers={"WWW-Authenticate": challenge})
    with pytest.raises(ArmError, match="ARM 401"):
        client.read(URL, kind="resource")
    assert [c.request.headers["Authorization"] for c in responses.calls] == [
        "Bearer token-2",  # the token the first 401 dropped was not used again
        "Bearer token-3",  # the pipeline's bearer policy, which answers challenges
    ]


@responses.activate
def test_a_401_the_pipeline_cannot_fix_is_an_arm_refusal() -> None:
    responses.get(URL, status=401, json={"error": {"code": "InvalidAuthenticationToken"}})
    with pytest.raises(ArmError, match="ARM 401 InvalidAuthenticationToken"):
        _client().read(URL, kind="resource")


@responses.activate
def test_the_token_is_held_until_five_minutes_before_it_expires() -> None:
    responses.get(URL, json={"id": NSG})
    lasting = CountingCredential(lifetime=3600)
    client = _client(lasting)
    for _ in range(3):
        client.read(URL, kind="resource")
    assert lasting.asked == 1
    expiring = CountingCredential(lifetime=200)  # inside azure-core's 5-minute refresh window
    client = _client(expiring)
    for _ in range(3):
        client.read(URL, kind="resource")
    assert expiring.asked == 3


@responses.activate
def test_reads_tell_the_gate_what_arm_has_left() -> None:
    responses.get(
        URL, json={"id": NSG}, headers={"x-ms-ratelimit-remaining-subscription-reads": "0"}
    )
    fake = FakeTime()
    gates = ThrottleGates(pace=25.0, burst=1.0, clock=fake.clock, sleep=fake.sleep)
    client = _client(gates=gates)
    client.read(URL, kind="resource")
    client.read(URL, kind="resource")
    assert fake.slept and fake.slept[0] == pytest.approx(0.04)  # the second waited for a token


@responses.activate
def test_a_client_with_policies_of_its_own_reads_through_them() -> None:
    responses.get(URL, json={"id": NSG})
    client = _client(policies=[HeadersPolicy({"x-ms-test": "seen"})])
    client.read(URL, kind="resource")
    assert responses.calls[0].request.headers["x-ms-test"] == "seen"


@responses.activate
def test_a_body_that_is_no_json_object_is_refused_as_before() -> None:
    """Not JSON: the decoder's error, which the pipeline records as the resource's ERROR (it
    always did); JSON that is no object: ARM's InvalidBody."""
    responses.get(URL, body=b"<html>gateway</html>", status=200)
    reader = ArmReader(ARM, CountingCredential(), max_retries=0)
    with pytest.raises(ValueError, match="Expecting value"):
        reader.get(NSG, "2024-05-01")
    responses.reset()
    responses.get(URL, body=b"[1, 2]", status=200)
    with pytest.raises(ArmError, match="InvalidBody"):
        reader.get(NSG, "2024-05-01")


# --- the same answers, read lean and through the pipeline alone: the same calls, waits, result

Answer = dict[str, Any]


def _through_both(
    answers: list[Answer], monkeypatch: pytest.MonkeyPatch, **connection: Any
) -> list[tuple[int, list[float], str]]:
    """For ``client.read`` and ``client.send("GET")`` in turn: the requests sent, the sleeps
    slept (azure-core's and the lean attempt's) and the result (the body's id or the error)."""
    outcomes = []
    for lean in (True, False):
        slept: list[float] = []
        monkeypatch.setattr(time, "sleep", slept.append)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            for answer in answers:
                mocked.get(URL, **answer)
            client = _client(**connection)
            try:
                if lean:
                    result = str(client.read(URL, kind="resource").json()["id"])
                else:
                    result = str(client.send("GET", URL, kind="resource").json()["id"])
            except Exception as exc:
                result = f"{type(exc).__name__}: {exc}"
            outcomes.append((len(mocked.calls), slept, result))
    return outcomes


OK = {"json": {"id": NSG}}
REFUSED = {"body": requests.exceptions.ConnectionError("refused")}
TIMED_OUT = {"body": requests.exceptions.ReadTimeout("slow")}


@pytest.mark.parametrize(
    ("answers", "connection"),
    [
        pytest.param([{"status": 500}] * 3 + [OK], {"max_retries": 4}, id="backoff-goes-on"),
        pytest.param([{"status": 503}] * 6, {"max_retries": 4}, id="status-budget"),
        pytest.param([REFUSED] * 6, {"max_retries": 4}, id="connect-budget"),
        pytest.param([TIMED_OUT] * 6, {"max_retries": 20}, id="read-budget"),
        pytest.param([REFUSED, {"status": 503}, OK], {"max_retries": 2}, id="mixed"),
        pytest.param(
            [{"status": 503, "headers": {"retry-after-ms": "5000"}}, OK],
            {"max_retries": 2},
            id="retry-after-ms",
        ),
        pytest.param(
            [{"status": 503, "headers": {"x-ms-retry-after-ms": "60000"}}, OK],
            {"max_retries": 2, "retry_budget_seconds": 30},
            id="retry-after-ms-beyond-budget",
        ),
        pytest.param(
            [{"status": 429, "json": THROTTLED, "headers": {"Retry-After": "120"}}, OK],
            {"max_retries": 20, "retry_budget_seconds": 600},
            id="long-retry-after",
        ),
        pytest.param([{"status": 999}, OK], {"max_retries": 2}, id="999-is-final"),
        pytest.param([{"status": 505}, OK], {"max_retries": 2}, id="505-is-final"),
        pytest.param(
            [{"status": 400, "headers": {"Retry-After": "2"}}, OK],
            {"max_retries": 1},
            id="400-wait",
        ),
        pytest.param([{"status": 404, "json": {"error": {"code": "NotFound"}}}], {}, id="404"),
        pytest.param(
            [{"status": 503, "headers": {"retry-after-ms": "nan"}}] * 2 + [OK],
            {"max_retries": 3},
            id="hostile-nan-wait",
        ),
        pytest.param(
            [{"status": 503, "headers": {"Retry-After": "-3"}}] * 2 + [OK],
            {"max_retries": 3},
            id="hostile-negative-wait",
        ),
    ],
)
def test_a_lean_read_retries_and_waits_as_the_pipeline_does(
    answers: list[Answer], connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, pipeline = _through_both(answers, monkeypatch, **connection)
    assert lean == pipeline


def test_a_token_with_refresh_on_is_renewed_as_azure_core_renews_it() -> None:
    from azure.core.credentials import AccessTokenInfo

    class Refreshing:
        asked = 0

        def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
            Refreshing.asked += 1
            now = int(time.time())
            return AccessTokenInfo(f"t{Refreshing.asked}", now + 250, refresh_on=now + 200)

    from shared.arm.client import BearerToken

    token = BearerToken(Refreshing(), "https://management.example/.default")  # type: ignore[arg-type]
    for _ in range(5):
        assert token.header() == "Bearer t1"  # refresh_on is 200 s away: held, though < 5 min
    assert Refreshing.asked == 1


def test_reads_against_the_simulated_tenant_go_lean_over_tls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Over a real TLS connection to the simulated tenant (its own CA), a reader's reads take
    the lean path, carry the credential's token, and answer what the pipeline answers."""
    from shared.transport import PooledTransport
    from sim.fixture import running_sim

    monkeypatch.undo()  # the real transport here, not `responses`
    fetched: list[str] = []
    fetch = PooledTransport.fetch

    def counted(self: PooledTransport, method: str, url: str, headers: dict[str, str]) -> Any:
        fetched.append(headers["Authorization"].split(" ", 1)[0])
        return fetch(self, method, url, headers)

    monkeypatch.setattr(PooledTransport, "fetch", counted)
    with running_sim(estate="demo") as sim:
        reader = ArmReader(sim.arm_url, sim.credential, ca_cert=sim.ca_cert).patient()
        path = f"/subscriptions/{sim.subscriptions[0]}"
        lean = reader.get(path, "2022-12-01")
        through_pipeline = reader.client.send(
            "GET", reader.client.url(path, "2022-12-01"), kind="x"
        )
        assert lean == through_pipeline.json() and lean is not None
        assert fetched == ["Bearer"]  # one lean read; the pipeline's send did not fetch
        assert reader.get(f"{path}/resourceGroups/no-such-group", "2022-12-01") is None
        assert reader.stats.get("resource") == 2 and reader.gates.thread_requests() == 3
