"""The questionnaire engine: one declarative, versioned definition renders the form
(``templates/questionnaire/macros.html``), validates what is sent (``validate``) and maps the answers to
typed columns (``to_columns``). Definitions live in ``reporting/questionnaires/*.json``."""

from . import sources  # noqa: F401  (registers the named option sources)
from .conditions import DefinitionError, evaluate
from .definition import (
    Option,
    OptionGroup,
    Question,
    Questionnaire,
    current,
    load,
    parse_definition,
)
from .store import answers_to_form, columns, to_columns
from .validation import Result, validate

__all__ = [
    "DefinitionError", "Option", "OptionGroup", "Question", "Questionnaire", "Result", "answers_to_form",
    "columns", "current", "evaluate", "load", "parse_definition", "to_columns", "validate",
]
