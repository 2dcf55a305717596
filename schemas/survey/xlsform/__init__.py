"""XLSForm import (docs/spec/survey-language.md §9).

:func:`import_xlsform` reads an ``.xlsx`` workbook laid out as an XLSForm (sheets
``survey``, ``choices`` and ``settings``) and returns the same :class:`~schemas.survey.Form`
a TOML document would give, checked by the same rules (:func:`~schemas.survey.check_form`).

A workbook is hostile input. The file is capped at :data:`MAX_XLSFORM_BYTES`, its unzipped
parts at :data:`MAX_UNZIPPED_BYTES` and each sheet at :data:`MAX_XLSFORM_ROWS` rows; it is
opened read-only with cached values only (formulas are never evaluated, external links never
followed). Whatever goes wrong, the caller sees one :class:`~schemas.errors.FormInvalid`
listing *every* problem found. Each problem's path names the cell: ``survey!E12 (constraint)``
is sheet ``survey``, column E, row 12, under the header ``constraint``. A cell in a column
that is missing altogether is named by its row, ``survey!12:12 (sensitive)``.

What is read (everything else is refused or, if it only changes presentation, ignored with
a warning in :attr:`ImportResult.warnings`):

* ``settings``: ``form_id``, ``version`` (a whole number 1 … 2³¹-1; date-style versions such
  as ``2024010101`` fit), ``form_title`` / ``form_title::Korean (ko)``, ``default_language``
  (``ko`` or ``Korean (ko)``).
* ``survey``: ``type``, ``name``, ``label::Language (code)``, ``hint::…``, ``required``,
  ``relevant``, ``constraint`` with ``constraint_message::…``, ``choice_filter``,
  ``repeat_count`` (a whole number only), and the sealsync columns ``sensitive``,
  ``identity``, ``min_count`` and ``max_count``. A column with no language (``label``) is in
  the default language.
* ``choices``: ``list_name``, ``name``, ``label::…``; any other column is a choice property
  that ``choice_filter`` expressions can test.

Inside: ``_workbook`` reads the bytes into sheets, ``_tables`` holds the XLSForm
vocabulary, ``_columns`` reads headers, languages and cells, ``_importer`` maps the sheets
to a form and ``_paths`` maps check_form's problems back to cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from ._importer import ImportResult, _Importer
from ._workbook import (
    MAX_UNZIPPED_BYTES,
    MAX_XLSFORM_BYTES,
    MAX_XLSFORM_COLUMNS,
    MAX_XLSFORM_ROWS,
    _open_workbook,
    _read_source,
)

__all__ = [
    "MAX_UNZIPPED_BYTES",
    "MAX_XLSFORM_BYTES",
    "MAX_XLSFORM_COLUMNS",
    "MAX_XLSFORM_ROWS",
    "ImportResult",
    "import_xlsform",
]


def import_xlsform(source: str | Path | bytes | BinaryIO) -> ImportResult:
    """Read and check an XLSForm workbook (a path, its bytes or a binary file object).

    Returns the form and the warnings about what was ignored. Raises
    :class:`~schemas.errors.FormInvalid` listing every problem, each with its cell.
    """
    data, name = _read_source(source)
    sheets, others = _open_workbook(data, name)
    return _Importer(sheets, others, name).run()
