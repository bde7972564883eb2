"""Loss arithmetic: what was read, what publishers saw acknowledged, and what the broker holds now."""

from __future__ import annotations

from warehouse.losses import BrokerPartition, find_losses, replay_advice

T = "realise.form_response.v1"


def test_given_a_recreated_topic_when_publishers_recorded_more_than_was_read_then_the_difference_is_lost():
    [loss] = find_losses({(T, 0): (40, "old")}, {(T, 0, "old"): 70, (T, 0, "new"): 5},
                         {(T, 0): BrokerPartition("new", 0, 5)})
    assert (loss.cause, loss.from_offset, loss.lost, loss.resume_at) == ("recreated", 40, 30, -1)
    assert "30 events were lost" in loss.message() and "offsets 40-69" in loss.message()


def test_given_a_recreated_topic_after_everything_was_read_then_nothing_is_lost_but_reading_restarts():
    [loss] = find_losses({(T, 0): (70, "old")}, {(T, 0, "old"): 70}, {(T, 0): BrokerPartition("new", 0, 3)})
    assert (loss.lost, loss.resume_at) == (0, -1)


def test_given_a_recreated_topic_no_publisher_recorded_then_the_count_is_unknown():
    [loss] = find_losses({(T, 0): (70, "old")}, {}, {(T, 0): BrokerPartition("new", 0, 0)})
    assert loss.lost is None and "may have been lost" in loss.message()


def test_given_retention_deleted_unread_records_then_exactly_those_are_lost_and_reading_resumes_after_them():
    [loss] = find_losses({(T, 1): (100, "id")}, {}, {(T, 1): BrokerPartition("id", 160, 400)})
    assert (loss.cause, loss.lost, loss.resume_at) == ("truncated", 60, 160)


def test_given_a_gone_topic_on_a_broker_without_ids_then_it_is_emptied_and_counted_from_publishers():
    [loss] = find_losses({(T, 2): (10, None)}, {(T, 2, ""): 25}, {(T, 2): BrokerPartition(None, 0, 0)})
    assert (loss.cause, loss.lost) == ("emptied", 15)


def test_given_ids_and_a_broker_that_answers_a_low_end_offset_then_no_loss_is_invented():
    # Some brokers answer ListOffsets(latest) with the last batch's base offset, below what was read.
    assert find_losses({(T, 0): (50, "id")}, {(T, 0, "id"): 50}, {(T, 0): BrokerPartition("id", 0, 44)}) == []


def test_given_partitions_never_read_or_intact_then_there_is_no_loss():
    assert find_losses({(T, 0): (-1, None), (T, 1): (5, "id")}, {},
                       {(T, 0): BrokerPartition("id", 3, 9), (T, 1): BrokerPartition("id", 0, 9)}) == []


def test_replay_advice_names_one_pull_per_source_then_ingest():
    text = replay_advice({"zendesk": "2026-11-30", "msforms": "2026-12-01"})
    assert text == ("publish them again with: realise pull msforms --since 2026-12-01; "
                    "realise pull zendesk --since 2026-11-30; then realise ingest --drain")
    assert "webhooks" in replay_advice({})
