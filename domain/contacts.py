"""Normal forms of phone numbers and e-mail addresses, so that one customer is found however they are typed."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalize_email(value: str) -> str | None:
    email = value.strip().lower()
    return email if _EMAIL.match(email) else None


def normalize_phone(value: str) -> str | None:
    """Digits with a leading '+' kept: '+33 (0)4-72 00 00 00' and '+33472000000' are the same line.

    Only the international form is recognised as the same line across spellings; a national number keeps its digits.
    """
    raw = value.strip()
    raw = raw.replace("(0)", "")
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("00"):
        digits = digits[2:]
        raw = "+" + raw
    if not 6 <= len(digits) <= 15:
        return None
    return ("+" if raw.startswith("+") else "") + digits
