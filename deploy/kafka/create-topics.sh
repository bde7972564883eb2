#!/bin/bash
# Creates the Realise topics on the Kafka cluster at $BOOTSTRAP_SERVER. Existing topics are left as they
# are (their partition count is not changed). Runs in the apache/kafka image as the kafka-init service.
set -euo pipefail

BOOTSTRAP_SERVER="${BOOTSTRAP_SERVER:-kafka:9092}"
TOPIC_PARTITIONS="${TOPIC_PARTITIONS:-3}"
TOPIC_REPLICATION_FACTOR="${TOPIC_REPLICATION_FACTOR:-1}"
KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"

# Event topics, keyed by org unit (one unit stays in one partition).
EVENT_TOPICS=(
  realise.form_response.v1
  realise.helpdesk_ticket.v1
  realise.training_record.v1
  realise.skills_assessment.v1
  realise.retraction.v1
)
# Records that failed validation, kept for 30 days for investigation and replay.
DEAD_LETTER_TOPIC=realise.dead_letter.v1
DEAD_LETTER_RETENTION_MS=2592000000
# Alerts raised from the warehouse.
ALERTS_TOPIC=realise.alerts.v1

create() {
  local topic="$1"
  shift
  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVER" --create --if-not-exists \
    --topic "$topic" --partitions "$TOPIC_PARTITIONS" --replication-factor "$TOPIC_REPLICATION_FACTOR" "$@"
}

for topic in "${EVENT_TOPICS[@]}"; do
  create "$topic"
done
create "$DEAD_LETTER_TOPIC" --config "retention.ms=$DEAD_LETTER_RETENTION_MS"
create "$ALERTS_TOPIC"

"$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVER" --describe \
  --topic "$(IFS='|'; echo "${EVENT_TOPICS[*]}|$DEAD_LETTER_TOPIC|$ALERTS_TOPIC" | sed 's/\./\\./g')"
