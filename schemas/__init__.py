"""sealsync.schemas: the contracts the field kit and the server share (docs/spec/).

Subpackages: :mod:`schemas.survey` (the survey definition language), :mod:`schemas.bundle`
(bundle format v1), :mod:`schemas.wire` (wire types) and :mod:`schemas.forms` (the
shipped forms). Nothing here touches a disk layout, a socket or a command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
