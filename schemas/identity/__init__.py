"""Identity normalisation v1 (docs/spec/identity-normalisation.md).

What every device and organisation computes identically from a respondent's identity
answers (survey-language.md §4.3), so that the server can recognise the same person
interviewed twice without holding the name in clear: :func:`normalize_name` separates
surname and given name, folds the North/South initial-sound difference and the
romanization variants; :func:`normalize_province` maps a province answer onto the
crosswalk of the DPRK's regions. All functions are pure and deterministic; errors are
:class:`~schemas.errors.IdentityInputError` and never echo their input.
"""

from ._hangul import fold_initial_sound, to_jamo
from ._names import NORMALISATION_VERSION, NormalizedName, Script, normalize_name
from ._places import REGIONS, Region, RegionKind, normalize_province
from ._romanize import consonants, romanize, skeleton

__all__ = [
    "NORMALISATION_VERSION",
    "REGIONS",
    "NormalizedName",
    "Region",
    "RegionKind",
    "Script",
    "consonants",
    "fold_initial_sound",
    "normalize_name",
    "normalize_province",
    "romanize",
    "skeleton",
    "to_jamo",
]
