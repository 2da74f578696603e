"""The ARM client seam over `responses`: error mapping, request counts, Retry-After, same-origin
links, the bearer token, conditional headers; and the one place Tables are chosen."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
import responses
from azure.core import MatchConditions
from azure.core.exceptions import ClientAuthenticationError

from shared.arm import ArmClient, ArmError, ArmReader, PreconditionFailed, TransientArmError
from shared.arm.throttle import ThrottleGates
from shared.arm.writer import conditional_headers
from shared.config import Settings
from shared.http import RequestCounts, ServiceClient, retry_after
from shared.tables import table_service
from sim.credentials import StaticTokenCredential

pytestmark = pytest.mark.usefixtures("via_requests")  # `responses` stands in for the service

ARM = "https://management.example"
RG = "/subscriptions/s1/resourceGroups/rg"
NSG = f"{RG}/providers/Microsoft.Network/networkSecurityGroups/n1"


def _client() -> ArmClient:
    return ArmClient(ARM, StaticTokenCredential(), max_retries=0)


def _error(code: str) -> dict[str, object]:
    return {"error": {"code": code, "message": f"{code} happened"}}


@responses.activate
def test_requests_carry_the_token_and_the_user_agent_and_are_counted_by_kind() -> None:
    responses.get(f"{ARM}{NSG}", json={"id": NSG})
    client = _client()
    client.send("GET", client.url(NSG, "2024-05-01"), kind="resource")
    client.send("GET", client.url(NSG, "2024-05-01"), kind="resource")
    sent = responses.calls[0].request
    assert sent.headers["Authorization"].startswith("Bearer ")
    assert "phiguard/0.1" in sent.headers["User-Agent"]
    assert sent.url == f"{ARM}{NSG}?api-version=2024-05-01"
    assert client.counts.calls == 2 and client.counts.by_kind == {"resource": 2}


@responses.activate
@pytest.mark.parametrize(
    ("method", "status", "body", "raised", "match"),
    [
        ("GET", 429, None, TransientArmError, "ARM 429 for GET"),
        ("GET", 503, None, TransientArmError, "ARM 503"),
        ("PUT", 408, None, TransientArmError, "ARM 408"),
        ("PUT", 412, _error("PreconditionFailed"), PreconditionFailed, "PreconditionFailed"),
        ("PUT", 409, _error("AnotherOperationInProgress"), TransientArmError, "409"),
        ("PUT", 409, _error("Conflict"), ArmError, "ARM 409 Conflict: Conflict happened"),
        ("PUT", 404, _error("ResourceNotFound"), ArmError, "ARM 404"),
        ("GET", 403, _error("AuthorizationFailed"), ArmError, "AuthorizationFailed"),
        ("PATCH", 400, None, ArmError, "ARM 400"),
    ],
)
def test_answers_map_to_typed_errors(
    method: str,
    status: int,
    body: dict[str, object] | None,
    raised: type[Exception],
    match: str,
) -> None:
    responses.add(method, f"{ARM}{NSG}", status=status, json=body)
    client = _client()
    with pytest.raises(raised, match=match):
        client.send(method, client.url(NSG, "2024-05-01"), kind=method)


@responses.activate
def test_a_404_to_a_get_or_delete_is_the_callers_and_a_connection_error_is_transient() -> None:
    responses.get(f"{ARM}{NSG}", status=404, json=_error("ResourceNotFound"))
    responses.delete(f"{ARM}{NSG}", status=404)
    responses.get(f"{ARM}{RG}", body=requests.exceptions.ConnectionError("refused"))
    client = _client()
    assert client.send("GET", client.url(NSG, "v"), kind="k").status_code == 404
    assert client.send("DELETE", client.url(NSG, "v"), kind="k").status_code == 404
    with pytest.raises(TransientArmError, match="unreachable"):
        client.send("GET", client.url(RG, "v"), kind="k")


@responses.activate
def test_the_reader_tells_a_gone_resource_from_a_refused_path() -> None:
    responses.get(f"{ARM}{NSG}", status=404, json=_error("ResourceGroupNotFound"))
    responses.get(f"{ARM}{RG}", status=404, json=_error("InvalidResourceNamespace"))
    reader = ArmReader(ARM, StaticTokenCredential(), max_retries=0)
    assert reader.get(NSG, "v") is None
    with pytest.raises(ArmError, match="unexpected 404"):
        reader.get(RG, "v", "resource_group")
    assert reader.stats.by_kind == {"resource": 1, "resource_group": 1}
    assert reader.patient().stats is reader.stats  # the sweep's reads count with the event's


@responses.activate
def test_next_links_and_poll_urls_are_followed_only_back_to_arm() -> None:
    listing = f"{ARM}/subscriptions/s1/resourcegroups"
    responses.get(listing, json={"value": [{"id": RG}], "nextLink": "https://evil.example/p2"})
    reader = ArmReader(ARM, StaticTokenCredential(), max_retries=0)
    items = reader.list_items("/subscriptions/s1/resourcegroups", "v")
    assert next(items) == {"id": RG}
    with pytest.raises(ArmError, match="InvalidNextLink"):
        next(items)
    assert len(responses.calls) == 1  # the token never went to the other host
    client = _client()
    assert client.same_origin(f"{ARM}/x", "Code", "link") == f"{ARM}/x"


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = retry_after({"Retry-After": later})
    assert seconds is not None and 25 < seconds <= 31


@responses.activate
def test_another_service_reuses_the_seam_with_its_own_errors() -> None:
    """What a Graph / GitHub / Teams client looks like: base URL, auth policy, error types."""
    from shared.errors import ServiceError, TransientServiceError

    class GraphError(ServiceError):
        service = "Graph"

    class TransientGraphError(TransientServiceError):
        pass

    class Graph(ServiceClient):
        service = "Graph"
        error = GraphError
        transient = TransientGraphError

    counts = RequestCounts()
    graph = Graph("https://graph.example/", max_retries=0, counts=counts)
    responses.get("https://graph.example/v1.0/me", status=403, body="denied")
    responses.get("https://graph.example/v1.0/users", status=429, headers={"Retry-After": "9"})
    with pytest.raises(GraphError, match="Graph 403 : denied"):
        graph.send("GET", "https://graph.example/v1.0/me", kind="me")
    with pytest.raises(TransientGraphError, match="Retry-After 9"):
        graph.send("GET", "https://graph.example/v1.0/users", kind="users")
    assert counts.by_kind == {"me": 1, "users": 1}
    graph.close()


def test_match_conditions_become_arm_conditional_headers() -> None:
    assert conditional_headers(None, None) == {}
    assert conditional_headers("e", MatchConditions.Unconditionally) == {}
    assert conditional_headers('W/"1"', MatchConditions.IfNotModified) == {"If-Match": 'W/"1"'}
    assert conditional_headers('W/"1"', MatchConditions.IfModified) == {"If-None-Match": 'W/"1"'}
    assert conditional_headers(None, MatchConditions.IfPresent) == {"If-Match": "*"}
    assert conditional_headers(None, MatchConditions.IfMissing) == {"If-None-Match": "*"}
    with pytest.raises(ValueError, match="IfNotModified needs an etag"):
        conditional_headers(None, MatchConditions.IfNotModified)


def test_tables_are_reached_by_connection_string_else_by_account_url() -> None:
    local = Settings.from_env({"PHIGUARD_STORAGE_CONNECTION_STRING": "UseDevelopmentStorage=true"})
    service = table_service(local)
    assert service.url.startswith("http://127.0.0.1:10002/devstoreaccount1")
    url = "https://acct.table.core.windows.net"
    managed = Settings.from_env({"PHIGUARD_STORAGE_ACCOUNT_URL": url})
    service = table_service(managed)
    assert service.url.startswith(url) and not isinstance(service.credential, str)
    with pytest.raises(ValueError, match="STORAGE_CONNECTION_STRING or"):
        table_service(Settings.from_env({}))


def test_a_token_failure_is_neither_transient_nor_an_arm_refusal() -> None:
    from shared.errors import is_transient

    error = ClientAuthenticationError("no managed identity")
    assert not is_transient(error) and not isinstance(error, ArmError)


@responses.activate
def test_a_patient_reader_waits_out_more_than_three_throttled_answers() -> None:
    """azure-core's own 3-answer budget must not cut a reader allowed more retries short."""
    throttled = _error("SubscriptionRequestsThrottled")
    for _ in range(6):
        responses.get(f"{ARM}{NSG}", status=429, json=throttled, headers={"Retry-After": "0.01"})
    responses.get(f"{ARM}{NSG}", json={"id": NSG})
    reader = ArmReader(ARM, StaticTokenCredential(), max_retries=10, retry_budget_seconds=60)
    assert reader.get(NSG, "2024-05-01") == {"id": NSG}
    assert len(responses.calls) == 7
    responses.reset()
    responses.get(f"{ARM}{NSG}", status=429, json=throttled, headers={"Retry-After": "0.01"})
    few = ArmReader(ARM, StaticTokenCredential(), max_retries=2)
    with pytest.raises(TransientArmError, match="429"):
        few.get(NSG, "2024-05-01")
    assert len(responses.calls) == 3  # and no more than it is allowed


@responses.activate
def test_a_retry_after_longer_than_the_budget_is_not_slept_on() -> None:
    """A 429 asking for more time than the whole retry budget is raised at once, naming the
    wait ARM asked for (the caller's redelivery comes back later), instead of sleeping it out
    and then reporting a timeout."""
    throttled = _error("SubscriptionRequestsThrottled")
    responses.get(f"{ARM}{NSG}", status=429, json=throttled, headers={"Retry-After": "60"})
    responses.get(f"{ARM}{NSG}", json={"id": NSG})
    client = ArmReader(ARM, StaticTokenCredential(), max_retries=4, retry_budget_seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientArmError, match="Retry-After 60"):
        client.get(NSG, "2024-05-01")
    assert time.monotonic() - started < 3
    assert len(responses.calls) == 1


@responses.activate
def test_next_links_with_the_default_port_or_host_casing_are_followed_but_not_http() -> None:
    listing = f"{ARM}/subscriptions/s1/resourcegroups"
    page2 = (
        "HTTPS://MANAGEMENT.example:443/subscriptions/s1/resourcegroups?api-version=v&$skiptoken=a"
    )
    page3 = "http://management.example/subscriptions/s1/resourcegroups?api-version=v&$skiptoken=b"
    responses.get(listing, json={"value": [{"id": RG}], "nextLink": page2})
    responses.get(page2, json={"value": [], "nextLink": page3})  # an empty page, then more
    reader = ArmReader(ARM, StaticTokenCredential(), max_retries=0)
    items = reader.list_items("/subscriptions/s1/resourcegroups", "v")
    assert next(items) == {"id": RG}
    with pytest.raises(ArmError, match="InvalidNextLink"):
        next(items)  # plain http would carry the token in the clear
    assert len(responses.calls) == 2


@responses.activate
def test_reads_are_paced_to_the_lower_of_the_principal_and_global_counts() -> None:
    from shared.arm.throttle import ThrottleGates, remaining_reads

    assert remaining_reads({"x-ms-ratelimit-remaining-subscription-reads": "249"}) == 249
    both = {
        "x-ms-ratelimit-remaining-subscription-reads": "249",
        "x-ms-ratelimit-remaining-subscription-global-reads": "0",
    }
    assert remaining_reads(both) == 0 and remaining_reads({}) is None
    responses.get(f"{ARM}{NSG}", json={"id": NSG}, headers=both)
    gates = ThrottleGates(pace=25.0)
    client = ArmClient(ARM, StaticTokenCredential(), gates=gates, max_retries=0)
    client.send("GET", client.url(NSG, "v"), kind="resource")
    assert gates.wait("s1") > 0  # the subscription's global bucket is spent: wait for a token


class _FakeTime:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def _release_times(
    gates: ThrottleGates, fake: _FakeTime, requests: int, spacing: float
) -> list[float]:
    """When each of ``requests`` reads, asked for ``spacing`` s apart, may go."""
    released = []
    for _ in range(requests):
        fake.slept.clear()
        gates.wait("s1")
        released.append(fake.now + sum(fake.slept))
        fake.now += spacing
    return released


def test_paced_reads_go_together_at_the_end_of_their_refill_window() -> None:
    fake = _FakeTime()
    gates = ThrottleGates(pace=25.0, clock=fake.clock, sleep=fake.sleep)
    gates.observe("s1", 0)  # ARM says the bucket is spent
    released = _release_times(gates, fake, 100, 0.001)
    windows = sorted({round(t, 6) for t in released})
    assert len(windows) == 4 and windows == [1001.0, 1002.0, 1003.0, 1004.0]
    for window in windows:
        assert sum(1 for t in released if round(t, 6) == window) == 25
    # ARM is never asked for more reads than it refilled since the bucket ran dry
    for i, at in enumerate(sorted(released)):
        assert i + 1 <= (at - 1000.0) * 25.0 + 1e-6


def test_paced_reads_keep_the_refill_rate_and_may_go_one_token_at_a_time() -> None:
    fake = _FakeTime()
    together = ThrottleGates(pace=25.0, clock=fake.clock, sleep=fake.sleep)
    together.observe("s1", 0)
    released = _release_times(together, fake, 250, 0.0)
    assert max(released) - 1000.0 == pytest.approx(10.0)  # 250 reads in 10 s: 25/s

    fake = _FakeTime()
    one_by_one = ThrottleGates(pace=25.0, burst=1.0, clock=fake.clock, sleep=fake.sleep)
    one_by_one.observe("s1", 0)
    released = _release_times(one_by_one, fake, 5, 0.0)
    assert released == pytest.approx([1000.04, 1000.08, 1000.12, 1000.16, 1000.2])


def test_unpaced_reads_and_a_full_bucket_do_not_wait() -> None:
    fake = _FakeTime()
    unpaced = ThrottleGates(clock=fake.clock, sleep=fake.sleep)
    unpaced.observe("s1", 0)
    assert [unpaced.wait("s1") for _ in range(50)] == [0.0] * 50
    paced = ThrottleGates(pace=25.0, clock=fake.clock, sleep=fake.sleep)
    paced.observe("s1", 30)
    assert [paced.wait("s1") for _ in range(30)] == [0.0] * 30
    assert paced.wait("s1") > 0
