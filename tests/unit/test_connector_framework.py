"""Pure parts of the connector framework: configuration errors, cursors, redaction, identity normalisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connectors.core.build import parse_time
from connectors.core.identity import StaffResolver, normalise_identifier
from connectors.core.pull import build_source, redact
from connectors.core.stream import MappingError, PullContext, cursor_after
from connectors.service import parse_since
from foundation.config import load_settings
from foundation.errors import ConfigError, SourceError, UserError
from foundation.source_config import AuthConfig, SourceConfig


def test_given_basic_auth_without_variable_names_when_validated_then_the_missing_names_are_listed() -> None:
    with pytest.raises(ValidationError, match="auth type basic needs username_env, password_env"):
        AuthConfig(type="basic")
    with pytest.raises(ValidationError, match="needs client_id_env, client_secret_env, token_url"):
        AuthConfig(type="oauth2_client_credentials")


def test_given_unset_secret_variable_when_read_then_error_names_the_variable_and_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SN_PASSWORD", raising=False)
    auth = AuthConfig(type="basic", username_env="SN_USER", password_env="SN_PASSWORD")
    with pytest.raises(SourceError, match="source 'servicenow': environment variable SN_PASSWORD .* is not set"):
        auth.secret("password_env", "servicenow")
    monkeypatch.setenv("SN_PASSWORD", "s3cret")
    assert auth.secret("password_env", "servicenow") == "s3cret"


def test_given_sources_in_realise_yaml_when_loaded_then_bad_entries_name_the_setting(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "realise.yaml"
    path.write_text("sources:\n  sn:\n    type: servicenow\n    base_url: ftp://x\n")
    with pytest.raises(ConfigError, match=r"'sources.sn.base_url' in .*must start with http:// or https:// \(got 'ftp://x'\)"):
        load_settings(path, env={})
    path.write_text("sources:\n  sn:\n    type: servicenow\n    base_ulr: https://x\n")
    with pytest.raises(ConfigError, match="unknown setting 'sources.sn.base_ulr'"):
        load_settings(path, env={})
    path.write_text("sources:\n  staff:\n    type: esr_csv\n    path: staff.csv\n")
    assert load_settings(path, env={}).sources["staff"].path == "staff.csv"


def test_given_unknown_type_or_option_when_source_built_then_error_lists_what_is_allowed() -> None:
    ctx = PullContext(run_started=datetime.now(UTC))
    with pytest.raises(SourceError, match="sources.x.type 'nosuch' is not a connector type; use one of: .*esr_csv"):
        build_source("x", SourceConfig(type="nosuch"), ctx)
    with pytest.raises(SourceError, match="sources.staff.options.emial_column is not a setting of a esr_csv"):
        build_source("staff", SourceConfig(type="esr_csv", options={"emial_column": "Email"}), ctx)
    assert isinstance(UserError("x"), Exception) and issubclass(SourceError, UserError)


def test_cursor_after_takes_the_later_value_never_past_the_cap_nor_backwards() -> None:
    assert cursor_after("2026-11-01 10:00:00", "2026-11-02 09:00:00") == "2026-11-02 09:00:00"
    assert cursor_after("2026-11-02 09:00:00", "2026-11-01 10:00:00") == "2026-11-02 09:00:00"
    assert cursor_after(None, "2026-11-01 10:00:00") == "2026-11-01 10:00:00"
    assert cursor_after("2026-11-01", "2026-12-01", cap="2026-11-20") == "2026-11-20"
    assert cursor_after("2026-11-25", "2026-12-01", cap="2026-11-20") == "2026-11-25"
    assert cursor_after(None, None) is None


def test_redact_blanks_identifier_fields_and_scrubs_nested_text() -> None:
    record = {"email": "ann.smith@trust.nhs.uk", "notes": ["call 07700 900123"],
              "nested": {"text": "mail bob@trust.nhs.uk"}, "n": 3, "empty": ""}
    clean = redact(record, ("email", "empty"))
    assert clean["email"] == "[identifier]" and clean["empty"] == ""
    assert "07700" not in clean["notes"][0] and "bob@" not in clean["nested"]["text"] and clean["n"] == 3


def test_identifiers_normalise_case_space_and_mailto_to_one_pseudonym() -> None:
    assert normalise_identifier(" mailto:Ann.Smith@Trust.NHS.uk ") == "ann.smith@trust.nhs.uk"
    resolver = StaffResolver(b"k" * 16)
    assert resolver.pseudonym("Ann.Smith@trust.nhs.uk") == resolver.pseudonym("mailto:ann.smith@TRUST.nhs.uk")
    alias = resolver.pseudonym("asmith")
    resolver.aliases[alias] = resolver.pseudonym("ann.smith@trust.nhs.uk")
    assert resolver.pseudonym("ASmith") == resolver.pseudonym("ann.smith@trust.nhs.uk")


def test_parse_time_accepts_servicenow_and_iso_forms_and_rejects_others() -> None:
    assert parse_time("2026-11-01 10:00:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00Z") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    with pytest.raises(MappingError, match="opened_at 'yesterday' is not a date and time"):
        parse_time("yesterday", "opened_at")
    with pytest.raises(MappingError, match="missing"):
        parse_time(None)


def test_since_parses_dates_and_date_times_and_explains_bad_values() -> None:
    assert parse_since("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_since("2026-11-01T08:30:00Z") == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(UserError, match="use YYYY-MM-DD"):
        parse_since("last week")
