"""How the assistant reaches the user: messages, files in the inbox, notifications."""
