"""domain.yml as the parts around Rasa read it (response texts, session expiry): parsed once and
again only when the file changes, so editors' changes count without a restart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from playbook.sourcefile import PROJECT_ROOT

DOMAIN_PATH = PROJECT_ROOT / "domain.yml"
#: Rasa's own default session expiry, used when domain.yml names none.
DEFAULT_SESSION_MINUTES = 60.0


class DomainUnreadable(RuntimeError):
    """domain.yml is missing or is not YAML; the message says which."""


@dataclass(frozen=True)
class DomainTexts:
    #: Each response's first text variant (responses without a text are left out).
    responses: dict[str, str]
    #: After this long without a message a conversation is over (``session_config``).
    session_minutes: float

    def text(self, response: str) -> str | None:
        return self.responses.get(response)


_cache: dict[Path, tuple[int, DomainTexts]] = {}  # path -> (mtime_ns, texts)


def domain_texts(path: Path = DOMAIN_PATH) -> DomainTexts:
    """What domain.yml says (cached until the file changes); raises :class:`DomainUnreadable`."""
    try:
        mtime = path.stat().st_mtime_ns
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise DomainUnreadable(f"{path.name}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise DomainUnreadable(f"{path.name}: not a mapping")
    texts = DomainTexts(responses=_texts(data.get("responses")), session_minutes=_minutes(data))
    _cache[path] = (mtime, texts)
    return texts


def _texts(responses: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, variants in (responses or {}).items() if isinstance(responses, dict) else ():
        first = variants[0] if isinstance(variants, list) and variants else None
        if isinstance(first, dict) and isinstance(first.get("text"), str):
            found[str(name)] = first["text"]
    return found


def _minutes(data: dict[str, Any]) -> float:
    config = data.get("session_config")
    value = config.get("session_expiration_time") if isinstance(config, dict) else None
    try:
        minutes = float(value) if value is not None else DEFAULT_SESSION_MINUTES
    except (TypeError, ValueError):
        return DEFAULT_SESSION_MINUTES
    return minutes if minutes > 0 else DEFAULT_SESSION_MINUTES
