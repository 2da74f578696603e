"""Settings: read once from PHIGUARD_* variables, bad values named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings, SettingsError, settings_markdown
from shared.kernel.snapshot import Snapshot

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.arm_url == "https://management.azure.com"
    assert settings.subscriptions == ()
    assert settings.arm_max_retries == 4


def test_values_and_phi_scope() -> None:
    settings = Settings.from_env(
        {
            "PHIGUARD_SUBSCRIPTIONS": " s1, s2 ,",
            "PHIGUARD_PHI_TAGS": "Sensitivity=PHI|restricted",
            "PHIGUARD_ARM_URL": "https://127.0.0.1:8443/",
            "PHIGUARD_PHI_RESOURCE_GROUPS": "/subscriptions/s1/resourceGroups/Data",
        }
    )
    assert settings.subscriptions == ("s1", "s2")
    assert settings.arm_url == "https://127.0.0.1:8443"
    scope = settings.phi_scope()
    tagged = Snapshot(
        {
            "id": "/subscriptions/s9/resourceGroups/x/providers/a.b/c/d",
            "tags": {"SENSITIVITY": "Restricted"},
        }
    )
    untagged = Snapshot(
        {
            "id": "/subscriptions/s9/resourceGroups/x/providers/a.b/c/d",
            "tags": {"data-classification": "phi"},
        }
    )
    in_group = Snapshot({"id": "/subscriptions/S1/resourcegroups/DATA/providers/a.b/c/d"})
    assert scope.is_phi(tagged)
    assert not scope.is_phi(untagged)  # custom rules replace the default tag rule
    assert scope.is_phi(in_group)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PHIGUARD_ARM_URL": "http://127.0.0.1"}, "PHIGUARD_ARM_URL"),
        ({"PHIGUARD_ARM_URL": "https://[::1"}, "PHIGUARD_ARM_URL: 'https://\\[::1' must be"),
        ({"PHIGUARD_ARM_URL": "https:///path"}, "with a host"),
        ({"PHIGUARD_GRAPH_URL": "https://"}, "PHIGUARD_GRAPH_URL"),
        ({"PHIGUARD_ARM_MAX_RETRIES": "many"}, "PHIGUARD_ARM_MAX_RETRIES: 'many'"),
        ({"PHIGUARD_ARM_MAX_RETRIES": "99"}, "outside 0..20"),
        ({"PHIGUARD_CA_CERT": "/no/such.pem"}, "PHIGUARD_CA_CERT"),
        ({"PHIGUARD_PHI_TAGS": "novalue"}, "PHIGUARD_PHI_TAGS"),
        ({"PHIGUARD_REMEDIATION_MODE": "yolo"}, "PHIGUARD_REMEDIATION_MODE"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_connection_string_is_not_in_repr() -> None:
    settings = Settings.from_env({"PHIGUARD_STORAGE_CONNECTION_STRING": "AccountKey=secret"})
    assert "secret" not in repr(settings)


def test_readme_settings_table_is_current() -> None:
    assert settings_markdown() in README.read_text(), "README settings table is stale"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SUBSCRIPTIONS", "s1,s2\x01"),
        ("PHI_SUBSCRIPTIONS", "../other"),
        ("EXEMPTION_APPROVERS", "ciso@contoso.example,\x1b[2J"),
    ],
)
def test_name_lists_with_control_or_path_characters_are_setting_errors(
    name: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=f"PHIGUARD_{name}"):
        Settings.from_env({f"PHIGUARD_{name}": value})
