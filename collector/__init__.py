"""sealsync collector: the field kit (issue #4 builds the keystore, interviews and sync)."""

__all__: list[str] = []
