"""User command lines: python -m valle.bin.<name> --help."""
