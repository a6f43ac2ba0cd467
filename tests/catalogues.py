"""What a package's sources ask to be translated, as Babel extracts it with the package's own babel.cfg.

Each package has its own catalogue (reporting: the site's messages; dashboard: the domain "dashboard").
The tests hold each catalogue to exactly its own package's strings: none missing, and none from elsewhere
(a dashboard string in reporting's catalogue is knowledge of the dashboard in the base package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def extracted_ids(config: str, keywords: tuple[str, ...], workdir: Path) -> set[str]:
    """The message ids ``pybabel extract -F config`` finds under the repository (plurals by their singular)."""
    pot = workdir / "extracted.pot"
    arguments = [arg for keyword in keywords for arg in ("-k", keyword)]
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", config, *arguments,
                    "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        return {_singular(m.id) for m in read_po(f) if m.id}


def catalogue_ids(po: Path) -> set[str]:
    with po.open("rb") as f:
        return {_singular(m.id) for m in read_po(f, locale="da") if m.id}


def _singular(message_id: str | tuple[str, ...]) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]
