"""The data collector agent: the service, its configuration, health check and updates."""
