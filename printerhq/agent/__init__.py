"""The data collector agent: service loop, schedules, remote configuration, health, updates."""
