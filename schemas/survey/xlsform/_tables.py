"""The XLSForm vocabulary sealsync reads (docs/spec/survey-language.md §9).

Question types and what to say about unsupported ones, column aliases, the columns each
sheet reads, the columns refused (they would change what is collected) and those only
warned about (they change presentation), and the shapes of cell values.
"""

from __future__ import annotations

import re

from ... import text

_SIMPLE_TYPES = {
    "text": "text",
    "string": "text",
    "integer": "integer",
    "int": "integer",
    "decimal": "decimal",
    "date": "date",
    "note": "note",
    "boolean": "boolean",
    "year": "year",
}
_BEGIN_END = {
    "begin group": ("begin", "group"),
    "begin repeat": ("begin", "repeat"),
    "end group": ("end", "group"),
    "end repeat": ("end", "repeat"),
}
_SELECT = re.compile(
    r"(select_one|select one|select_multiple|select multiple|select all that apply)(?:\s+(.*))?",
    re.IGNORECASE,
)
_SUPPORTED = "text, integer, decimal, boolean, date, year, note, select_one LIST, " + (
    "select_multiple LIST, begin/end group, begin/end repeat"
)
_METADATA = (
    "metadata questions are not supported (the collector records what it needs itself); "
    "remove this row"
)
_MEDIA = "media and file questions are not supported; remove this row"
_LOCATION = (
    "location questions are not supported: sealsync never records where an interview "
    "happens; remove this row"
)
_UNSUPPORTED_TYPES = {
    "calculate": "calculated values are not supported: sealsync keeps only what the "
    "interviewer enters; remove this row and compute the value during analysis",
    "geopoint": _LOCATION,
    "geotrace": _LOCATION,
    "geoshape": _LOCATION,
    "start-geopoint": _LOCATION,
    "background-geopoint": _LOCATION,
    "image": _MEDIA,
    "audio": _MEDIA,
    "video": _MEDIA,
    "file": _MEDIA,
    "background-audio": _MEDIA,
    "audit": _MEDIA,
    "barcode": "barcode questions are not supported; use a text question",
    "range": "range questions are not supported; use an integer question with a constraint",
    "rank": "rank questions are not supported; use one select_one question per position",
    "trigger": "trigger questions are not supported; use a boolean question",
    "acknowledge": "acknowledge questions are not supported; use a boolean question",
    "datetime": "date-time questions are not supported; use a date question",
    "time": "time questions are not supported; use a text question with a constraint",
    "hidden": "hidden questions are not supported; remove this row",
    "xml-external": "external data is not supported; remove this row",
    "csv-external": "external data is not supported; remove this row",
    "select_one_from_file": "choices from a file are not supported; put them in the choices sheet",
    "select_multiple_from_file": "choices from a file are not supported; "
    "put them in the choices sheet",
    "select_one_external": "external choices are not supported; put them in the choices sheet",
    "begin table": "tables are not supported; use a group",
    **{
        t: _METADATA
        for t in (
            "start",
            "end",
            "today",
            "deviceid",
            "subscriberid",
            "simserial",
            "phonenumber",
            "username",
            "email",
        )
    },
}

_ALIASES = {
    "constraint message": "constraint_message",
    "jr:constraintmsg": "constraint_message",
    "required message": "required_message",
    "jr:requiredmsg": "required_message",
    "choice filter": "choice_filter",
    "repeat count": "repeat_count",
    "jr:count": "repeat_count",
    "list name": "list_name",
    "readonly": "read_only",
    "read only": "read_only",
    "guidance hint": "guidance_hint",
    "id_string": "form_id",
    "form id": "form_id",
    "form title": "form_title",
    "default language": "default_language",
    "min count": "min_count",
    "max count": "max_count",
}

#: Columns whose cells would change what is collected: a non-empty cell is a problem.
_REFUSED = {
    "calculation": "calculations are not supported: sealsync keeps only what the interviewer "
    "enters; clear this cell and compute the value during analysis",
    "default": "default answers are not supported: the interviewer enters every answer; "
    "clear this cell",
    "read_only": "read-only questions are not supported; use a note to show text, "
    "or clear this cell",
    "trigger": "triggers are not supported; clear this cell",
    "save_to": "entities (save_to) are not supported; clear this cell",
    "bind": "custom bind attributes are not supported; clear this cell",
}
#: Columns that only change presentation: a non-empty cell is ignored with a warning.
_PRESENTATION = {
    "appearance": "appearance is ignored: the collector decides how questions look",
    "guidance_hint": "guidance hints are ignored; put guidance for the interviewer in the hint",
    "required_message": "required_message is ignored: the collector says itself that an "
    "answer is missing",
    "parameters": "parameters are ignored",
    "media": "media are ignored: the collector shows text only",
    "image": "media are ignored: the collector shows text only",
    "big-image": "media are ignored: the collector shows text only",
    "audio": "media are ignored: the collector shows text only",
    "video": "media are ignored: the collector shows text only",
    "autoplay": "autoplay is ignored: the collector shows text only",
    "intent": "external app intents are ignored",
    "body": "body attributes are ignored",
    "instance": "instance attributes are ignored",
}
_SURVEY_COLUMNS = {
    "type",
    "name",
    "required",
    "relevant",
    "constraint",
    "choice_filter",
    "repeat_count",
    "sensitive",
    "identity",
    "min_count",
    "max_count",
}
_TEXT_COLUMNS = {"label", "hint", "constraint_message", "form_title"}
_SHEET_TEXTS = {
    "survey": {"label", "hint", "constraint_message"},
    "choices": {"label"},
    "settings": {"form_title"},
}
_SHEET_COLUMNS = {
    "survey": _SURVEY_COLUMNS,
    "choices": {"list_name", "name"},
    "settings": {"form_id", "version", "default_language"},
}
#: check_form's field names that are named differently in a sheet
_FIELD_COLUMN = {"value": "name"}
_TRUE = {"yes", "true", "1", "y"}
_FALSE = {"no", "false", "0", "n", ""}
_LANG_CODE = re.compile(text.LANG)  # with fullmatch: the whole cell
_LANG_NAMED = re.compile(r"(?P<name>.*?)\s*\((?P<code>[^()]*)\)")
_PROPERTY = re.compile(text.PROPERTY)
_WHOLE = re.compile(r"[+-]?[0-9]{1,10}")
