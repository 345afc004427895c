"""Event sources outside the user: MCP channels, pull-request subscriptions, watched folders."""
