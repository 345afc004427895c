"""Cron tasks: pure rules (rules.py), the task model (task.py) and the runtime timer
(runtime.py). The rules know nothing about the store or the loop, so they are tested alone."""
