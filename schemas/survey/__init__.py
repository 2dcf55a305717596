"""The survey definition language (docs/spec/survey-language.md).

Load a form with :func:`load_form` (TOML or YAML) or :func:`import_xlsform`; check a
response with ``Validator(form).check(answers)``.
"""

from ._expr import Env, truthy
from ._load import check_form, load_form, parse_form
from ._model import (
    ANSWER_TYPES,
    IDENTITY_ROLES,
    Choice,
    Constraint,
    Form,
    Item,
    Text,
    form_digest,
)
from ._validate import (
    MAX_NUMBER,
    MAX_PROBLEMS,
    MAX_TEXT_ANSWER,
    AnswerFrame,
    FormNode,
    FormScope,
    Validator,
)
from .xlsform import ImportResult, import_xlsform

__all__ = [
    "ANSWER_TYPES",
    "IDENTITY_ROLES",
    "MAX_NUMBER",
    "MAX_PROBLEMS",
    "MAX_TEXT_ANSWER",
    "AnswerFrame",
    "Env",
    "FormNode",
    "FormScope",
    "Choice",
    "ImportResult",
    "Constraint",
    "Form",
    "Item",
    "Text",
    "Validator",
    "check_form",
    "form_digest",
    "truthy",
    "import_xlsform",
    "load_form",
    "parse_form",
]
