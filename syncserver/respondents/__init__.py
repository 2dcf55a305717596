"""Respondent deduplication: the same person counted once, without storing who they are
(docs/spec/respondent-matching.md).

Ingest turns each interview's identity answers into keyed pseudonyms
(:func:`stored_tokens`, :func:`register`); the :class:`Matcher` finds, scores and links
or queues the interviews that look like the same respondent; data managers review the
queue and correct links (the review functions). Clusters of linked interviews are the
respondents that exports count.
"""

from ._compare import NAME_LEVELS, Comparison, compare, match_weight
from ._filing import file_postings, register
from ._identity import IdentityAnswers, identity_answers, identity_roles
from ._matcher import Matcher, MatchReport
from ._pseudonyms import TOKEN_VERSION, Probe, PseudonymKey, StoredTokens, stored_tokens
from ._rebuild import identities, match_pending, rebuild
from ._review import (
    Candidate,
    Link,
    Member,
    Respondent,
    estimate_from_links,
    get_candidate,
    identity_of,
    link,
    list_candidates,
    mark_distinct,
    respondent,
    stats,
    unlink,
)
from ._weights import Weights, default_weights, estimate, load_weights, render_weights
from ._worker import MatchWorker

__all__ = [
    "NAME_LEVELS",
    "TOKEN_VERSION",
    "Candidate",
    "Comparison",
    "IdentityAnswers",
    "Link",
    "MatchReport",
    "MatchWorker",
    "Matcher",
    "Member",
    "Probe",
    "PseudonymKey",
    "Respondent",
    "StoredTokens",
    "Weights",
    "compare",
    "default_weights",
    "estimate",
    "estimate_from_links",
    "get_candidate",
    "identities",
    "identity_answers",
    "identity_of",
    "identity_roles",
    "link",
    "list_candidates",
    "load_weights",
    "mark_distinct",
    "match_pending",
    "match_weight",
    "rebuild",
    "file_postings",
    "register",
    "render_weights",
    "respondent",
    "stats",
    "stored_tokens",
    "unlink",
]
