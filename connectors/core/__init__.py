"""The connector framework: declared streams, one HTTP client, state in the warehouse, publish-then-advance."""
