"""Realise's top layer: the `realise` command line, the HTML report and `doctor`, over flows and the pipeline."""

__version__ = "0.1.0"
