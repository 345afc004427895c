"""The agent: the heartbeat loop, the one agent turn, the dream, prompts and the inbound queue."""
