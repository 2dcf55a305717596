"""sealsync syncserver: the sync service and admin CLI (issue #3 builds the service)."""

__all__: list[str] = []
