"""A project: its configuration (``config``), its keys sealed at rest (``keys``), the key
agent that keeps them unlocked for a while (``agent``), and opening a project, with its
keys or read-only without them (``readonly``)."""

from ._project import IDENTITY_NAME, Project, init_project, open_project

__all__ = ["IDENTITY_NAME", "Project", "init_project", "open_project"]
