"""Display conditions and rule guards: a small JSON grammar evaluated on the server (and, for display
only, mirrored by ``static/questionnaire.js``).

    {"question": "symptoms", "any_of": ["fever"]}        the answer is (or, for multi, includes) one of these
    {"question": "symptoms", "any_except": ["none"]}     the answer has a value other than these
    {"question": "tested", "answered": true}             the question has an answer (false: it has none)
    {"context": "relation", "equals": "self"}            a fact given by the caller (not from the form)
    {"all": [...]}, {"any": [...]}, {"not": {...}}

A condition may only name questions that come before it, so a questionnaire is evaluated in one pass in
order: a question whose condition is false is skipped, counts as unanswered, and its input is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COMBINATORS = ("all", "any", "not")
TESTS = ("any_of", "any_except", "answered")


class DefinitionError(ValueError):
    """A questionnaire definition (or a condition in it, or an advice rule file) is malformed; the message
    names the file and the question."""


def _values(answer: Any) -> list[str]:
    if answer is None or answer == "" or answer == []:
        return []
    if isinstance(answer, (list, tuple)):
        return [str(v) for v in answer]
    return [str(answer)]


def evaluate(condition: Mapping[str, Any] | None, answers: Mapping[str, Any],
             context: Mapping[str, Any] | None = None) -> bool:
    if condition is None:
        return True
    if "all" in condition:
        return all(evaluate(c, answers, context) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, answers, context) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], answers, context)
    if "context" in condition:
        return (context or {}).get(condition["context"]) == condition["equals"]
    given = _values(answers.get(condition["question"]))
    if "any_of" in condition:
        wanted = {str(v) for v in condition["any_of"]}
        return any(v in wanted for v in given)
    if "any_except" in condition:
        excluded = {str(v) for v in condition["any_except"]}
        return any(v not in excluded for v in given)
    if "answered" in condition:
        return bool(given) == bool(condition["answered"])
    raise ValueError(f"unknown condition {dict(condition)!r}")


def check(condition: Any, earlier: Iterable[str], where: str) -> None:
    """Refuse a malformed condition, or one that names a question not asked before it."""
    known = set(earlier)
    if not isinstance(condition, dict) or len(condition) == 0:
        raise DefinitionError(f"{where}: a condition must be an object")
    if "all" in condition or "any" in condition:
        parts = condition.get("all", condition.get("any"))
        if not isinstance(parts, list) or not parts:
            raise DefinitionError(f"{where}: 'all'/'any' need a non-empty list")
        for part in parts:
            check(part, known, where)
        return
    if "not" in condition:
        check(condition["not"], known, where)
        return
    if "context" in condition:
        if "equals" not in condition:
            raise DefinitionError(f"{where}: a context condition needs 'equals'")
        return
    if condition.get("question") not in known:
        raise DefinitionError(f"{where}: condition names {condition.get('question')!r}, which is not an earlier question")
    tests = [t for t in TESTS if t in condition]
    if len(tests) != 1:
        raise DefinitionError(f"{where}: a question condition needs exactly one of {TESTS}")
