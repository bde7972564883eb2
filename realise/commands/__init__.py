"""Command groups of the `realise` CLI, one module each, registered in realise/cli.py."""
