"""The local control API: how the CLI, the panel and a notebook talk to a running instance."""
