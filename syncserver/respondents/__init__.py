"""Respondent deduplication: the same person counted once, without storing who they are
(docs/spec/respondent-matching.md).

Ingest turns each interview's identity answers into keyed pseudonyms
(:func:`stored_tokens`, :func:`register`); the :class:`Matcher` finds, scores and links
or queues the interviews that look like the same respondent; data managers review the
queue and correct links (the review functions). Clusters of linked interviews are the
respondents that exports count.
"""

from ._compare import NAME_LEVELS, Comparison, compare, match_weight
from ._identity import IdentityAnswers, identity_answers, identity_roles
from ._matcher import Matcher, MatchReport
from ._store import register
from ._tokens import TOKEN_VERSION, Probe, PseudonymKey, StoredTokens, stored_tokens
from ._weights import (
    Weights,
    WeightsError,
    default_weights,
    estimate,
    load_weights,
    render_weights,
)

__all__ = [
    "NAME_LEVELS",
    "TOKEN_VERSION",
    "Comparison",
    "IdentityAnswers",
    "MatchReport",
    "Matcher",
    "Probe",
    "PseudonymKey",
    "StoredTokens",
    "Weights",
    "WeightsError",
    "compare",
    "default_weights",
    "estimate",
    "identity_answers",
    "identity_roles",
    "load_weights",
    "match_weight",
    "register",
    "render_weights",
    "stored_tokens",
]
