"""Command groups of the `realise` CLI, one module each, registered in realise/cli.py; what they share (the
settings of the run, the consoles) is in context.py."""
