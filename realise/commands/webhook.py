"""`realise webhook serve`: receive signed webhooks (form responses, Jira issues) and publish them, durable before
the 2xx."""

from __future__ import annotations

import typer

from foundation.errors import UserError
from realise.commands.context import err, settings

app = typer.Typer(help="Signed webhooks from push-style form tools and Jira Cloud.", no_args_is_help=True)


@app.command("serve")
def serve(
    port: int = typer.Option(8090, min=0, max=65535, help="Port to listen on (0: any free port)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 0.0.0.0 behind a TLS-terminating proxy."),
    source: list[str] = typer.Option([], "--source", "-s",
                                     help="Only these webhook sources (default: every `type: webhook` and "
                                          "`type: jira_webhook` source)."),
    ack_timeout: float = typer.Option(10.0, min=0.5, max=120.0,
                                      help="Seconds to wait for the broker before answering 503."),
    read_timeout: float = typer.Option(30.0, min=1.0, max=600.0,
                                       help="Seconds a client has to send a request's headers and body (else 408)."),
) -> None:
    """Serve POST /webhooks/<source> for the webhook sources in realise.yaml until Ctrl-C or SIGTERM."""
    from connectors.webhook import is_push_type
    from connectors.webhook.receiver import WebhookReceiver, producer_options
    from foundation import kafka
    from foundation.database import check_connection, warehouse_engine
    from foundation.privacy import load_key
    from foundation.stack import resolve_endpoints
    from ingestion.service import stop_on_signals

    s = settings()
    webhooks = {name: cfg for name, cfg in s.sources.items() if is_push_type(cfg.type)}
    unknown = [name for name in source if name not in webhooks]
    if unknown:
        raise UserError(f"no webhook source named {', '.join(unknown)} under sources: in realise.yaml "
                        f"(webhook sources: {', '.join(sorted(webhooks)) or 'none'})")
    chosen = {name: webhooks[name] for name in source} if source else webhooks
    for name, cfg in chosen.items():
        pull_source = cfg.options.get("pull_source") if cfg.type == "jira_webhook" else None
        if pull_source and getattr(s.sources.get(pull_source), "type", None) != "jira":
            raise UserError(f"sources.{name}.options.pull_source: '{pull_source}' is not a `type: jira` source "
                            "under sources: in realise.yaml; name the Jira source pulling the same site, or leave "
                            "it out")
    key = load_key()
    ep = resolve_endpoints(s, autostart=False, services={"postgres", "kafka"})
    engine = warehouse_engine(s, ep.warehouse_url)
    try:
        check_connection(engine)
        kafka.ensure_topics(s, ep.kafka_bootstrap)
        options = producer_options(ack_timeout)
        receiver = WebhookReceiver(
            chosen, engine=engine, key=key, topic_prefix=s.kafka.topic_prefix, host=host, port=port,
            producer_factory=lambda: kafka.producer(s, ep.kafka_bootstrap, **options), ack_timeout_seconds=ack_timeout,
            read_timeout_seconds=read_timeout)
        try:
            receiver.producer()  # connect now, so a missing broker or directory is reported before serving
            receiver.resolver()
            receiver.start()
            for name in sorted(receiver.endpoints):
                err.print(f"receiving {name} at {receiver.url(name)}")
            with stop_on_signals() as stop:
                while not stop.wait(1.0):
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            receiver.stop()
            counts = ", ".join(f"{k} {v}" for k, v in receiver.counts.items())
            err.print(f"webhook receiver stopped ({counts})")
    finally:
        engine.dispose()
