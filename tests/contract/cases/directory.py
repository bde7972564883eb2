"""The ESR-like staff directory export is a source too, though it loads the warehouse, not the stream."""
