"""The ``workbench`` command. Each subcommand lives in its own module with a ``register``."""
