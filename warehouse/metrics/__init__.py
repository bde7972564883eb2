"""Benefits-realisation and adoption metrics: definitions as code, computed in PostgreSQL, suppressed, kept."""
