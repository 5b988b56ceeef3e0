"""What Amplitude derives from an ingested event's fields (pure functions).

- ``language``: the Language user property is the language's name ("English"), as the User
  property definitions page shows it; a locale code such as ``en-US`` or ``de_DE`` becomes the
  name of its language. Names and unknown codes are kept as sent.
- revenue: "revenue = price * quantity. If you send all 3 fields of price, quantity, and
  revenue, then (price * quantity) is used as the revenue value" (HTTP V2 API, event keys); a
  price without quantity counts once (quantity defaults to 1) unless a revenue is sent. The
  official SDK's Revenue puts the same fields in event_properties as ``$price``, ``$quantity``,
  ``$revenue``.
"""

from __future__ import annotations

import re
from typing import Any

# ISO 639-1 codes of the languages most often seen, by their English names.
LANGUAGES = {
    "ar": "Arabic",
    "cs": "Czech",
    "da": "Danish",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "ko": "Korean",
    "nb": "Norwegian",
    "nl": "Dutch",
    "no": "Norwegian",
    "pl": "Polish",
    "pt": "Portuguese",
    "ro": "Romanian",
    "ru": "Russian",
    "sv": "Swedish",
    "th": "Thai",
    "tr": "Turkish",
    "uk": "Ukrainian",
    "vi": "Vietnamese",
    "zh": "Chinese",
}
_LOCALE = re.compile(r"^([A-Za-z]{2})(?:[-_][A-Za-z0-9]{2,8})*$")


def language_name(value: Any) -> Any:
    """``en-US`` / ``en_GB`` / ``en`` -> ``English``; anything else unchanged."""
    if not isinstance(value, str):
        return value
    match = _LOCALE.match(value.strip())
    if match is None:
        return value
    return LANGUAGES.get(match.group(1).lower(), value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def revenue_properties(event: dict[str, Any]) -> dict[str, Any]:
    """The event_properties an event is exported with: its own, the revenue fields as
    ``$price``, ``$quantity``, ... and ``$revenue`` = price x quantity when a price is sent."""
    properties = dict(event.get("event_properties") or {})
    for field in ("price", "quantity", "revenue", "productId", "revenueType", "currency"):
        if field in event:
            properties[f"${field}"] = event[field]
    price: Any = properties.get("$price")
    quantity: Any = properties.get("$quantity")
    if _number(price) and _number(quantity):
        properties["$revenue"] = price * quantity
    elif _number(price) and "$revenue" not in properties:
        properties["$revenue"] = price  # quantity defaults to 1
    return properties


def is_revenue(properties: dict[str, Any]) -> bool:
    """Whether an exported event's properties record revenue (it makes the user paying)."""
    return _number(properties.get("$revenue"))
