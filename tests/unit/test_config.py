"""load_settings: defaults, realise.yaml, REALISE_* overrides, and errors that say what to fix and where."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from foundation.config import Settings, load_settings
from foundation.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ./realise.yaml and no REALISE_* variables from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("REALISE_")]:
        monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "realise.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


YAML = """\
warehouse:
  url: postgresql+psycopg://realise@db.internal:5432/realise
kafka:
  bootstrap: kafka-1.internal:9092,kafka-2.internal:9092
  topic_prefix: dev.
  partitions: 6
ingest:
  batch_size: 2000
"""


# ------------------------------------------------------------------------------------------- defaults


def test_given_no_file_and_no_environment_when_loaded_then_defaults() -> None:
    settings = load_settings(env={})

    assert settings.warehouse.url is None
    assert settings.kafka.bootstrap is None
    assert settings.kafka.topic_prefix == ""
    assert settings.kafka.partitions == 3
    assert settings.kafka.consumer_group == "realise-ingest"
    assert settings.ingest.batch_size == 10_000
    assert settings.ingest.max_record_bytes == 1024 * 1024
    assert settings.data_dir == Path(".realise")
    assert (settings.stack.postgres_port, settings.stack.kafka_port, settings.stack.prefect_port) == (
        55432, 59092, 54200)


def test_given_realise_yaml_in_working_directory_when_loaded_without_path_then_it_is_read(tmp_path: Path) -> None:
    write(tmp_path, "kafka:\n  partitions: 9\n")

    assert load_settings(env={}).kafka.partitions == 9


def test_given_realise_config_variable_when_loaded_without_path_then_that_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  partitions: 7\n", "elsewhere.yaml")

    assert load_settings(env={"REALISE_CONFIG": str(path)}).kafka.partitions == 7


def test_given_realise_config_naming_a_directory_when_loaded_then_config_error_says_to_name_a_file(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^REALISE_CONFIG=.* is a directory; point it at a realise.yaml file$"):
        load_settings(env={"REALISE_CONFIG": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"^--config .* is a directory"):
        load_settings(tmp_path, env={})


def test_given_empty_file_when_loaded_then_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), env={}) == Settings()


# ------------------------------------------------------------------------------------------ file values


def test_given_yaml_file_when_loaded_then_its_values(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, YAML), env={})

    assert settings.warehouse.url == "postgresql+psycopg://realise@db.internal:5432/realise"
    assert settings.kafka.bootstrap == "kafka-1.internal:9092,kafka-2.internal:9092"
    assert settings.kafka.topic_prefix == "dev."
    assert settings.kafka.partitions == 6
    assert settings.ingest.batch_size == 2000
    assert settings.kafka.consumer_group == "realise-ingest"  # not in the file: default


def test_given_environment_overrides_when_loaded_then_they_win_over_the_file(tmp_path: Path) -> None:
    env = {"REALISE_WAREHOUSE_URL": "postgresql+psycopg://realise@prod-db:5432/realise",
           "REALISE_KAFKA_BOOTSTRAP": "broker.prod:9093",
           "REALISE_KAFKA_PARTITIONS": "12"}

    settings = load_settings(write(tmp_path, YAML), env=env)

    assert settings.warehouse.url == "postgresql+psycopg://realise@prod-db:5432/realise"
    assert settings.kafka.bootstrap == "broker.prod:9093"
    assert settings.kafka.partitions == 12
    assert settings.kafka.topic_prefix == "dev."  # not overridden: still from the file


def test_given_empty_environment_variable_when_loaded_then_file_value_kept(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, YAML), env={"REALISE_KAFKA_BOOTSTRAP": ""})

    assert settings.kafka.bootstrap == "kafka-1.internal:9092,kafka-2.internal:9092"


def test_given_environment_override_and_no_file_when_loaded_then_override_applied() -> None:
    settings = load_settings(env={"REALISE_KAFKA_PARTITIONS": "4", "REALISE_TOPIC_PREFIX": "t1."})

    assert settings.kafka.partitions == 4
    assert settings.kafka.topic_prefix == "t1."


# --------------------------------------------------------------------------------------------- errors


def test_given_unknown_key_when_loaded_then_config_error_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  partitons: 3\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert "kafka.partitons" in str(caught.value)
    assert str(path) in str(caught.value)


def test_given_unknown_top_level_section_when_loaded_then_config_error_names_it(tmp_path: Path) -> None:
    path = write(tmp_path, "kafak:\n  partitions: 3\n")

    with pytest.raises(ConfigError, match="kafak"):
        load_settings(path, env={})


def test_given_bad_yaml_when_loaded_then_config_error_with_line_number(tmp_path: Path) -> None:
    # Line 3 has a second "key: value" on one line, which YAML does not allow.
    path = write(tmp_path, "kafka:\n  partitions: 3\n  bootstrap: host: 9092\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert "line 3" in str(caught.value)
    assert str(path) in str(caught.value)


def test_given_file_that_is_not_a_mapping_when_loaded_then_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- kafka\n- warehouse\n"), env={})


def test_given_wrong_type_in_file_when_loaded_then_config_error_names_setting_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  partitions: many\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert "kafka.partitions" in str(caught.value)
    assert str(path) in str(caught.value)
    assert "'many'" in str(caught.value)


def test_given_wrong_type_in_env_argument_when_loaded_then_config_error_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"REALISE_KAFKA_PARTITIONS": "many"})

    assert "REALISE_KAFKA_PARTITIONS" in str(caught.value)
    assert "'many'" in str(caught.value)


def test_given_wrong_type_in_process_environment_when_loaded_then_config_error_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALISE_KAFKA_PARTITIONS", "many")

    with pytest.raises(ConfigError, match="REALISE_KAFKA_PARTITIONS"):
        load_settings()


def test_given_out_of_range_value_in_process_environment_when_loaded_then_config_error_names_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALISE_KAFKA_PARTITIONS", "0")

    with pytest.raises(ConfigError, match=r"REALISE_KAFKA_PARTITIONS.*greater than or equal to 1"):
        load_settings()


def test_given_explicit_file_that_does_not_exist_when_loaded_then_config_error_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "realise.yaml"

    with pytest.raises(ConfigError) as caught:
        load_settings(missing, env={})

    assert str(missing) in str(caught.value)
    assert "does not exist" in str(caught.value)


# --------------------------------------------------------------------------------------------- topics


def test_given_topic_prefix_when_topic_named_then_prefix_in_front(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, YAML), env={})

    assert settings.topic("realise.form_response.v1") == "dev.realise.form_response.v1"


def test_given_no_topic_prefix_when_topic_named_then_name_unchanged() -> None:
    assert load_settings(env={}).topic("realise.form_response.v1") == "realise.form_response.v1"
