"""The ground floor: settings, errors, privacy, progress and the clients of the services (warehouse engine,
Kafka clients, the embedded stack that stands in for what is not configured).

Every other package may import it; it imports nothing first-party but the event contracts in `schemas/`.
"""
