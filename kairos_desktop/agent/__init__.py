"""The agent: the heartbeat loop, the one agent turn, the dream and the prompts."""
