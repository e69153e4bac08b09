"""What a gateway ID and a model name look like, and the ID as people type it."""

from __future__ import annotations

import re

from essmon.core.japanese import to_halfwidth_ascii

# [0-9], not \d: \d also matches full-width and other scripts' digits. \Z, not $: $ also
# matches before a trailing newline.
GATEWAY_ID_RE = re.compile(r"^[0-9]{2}[A-Z]{2}[0-9]{8}\Z")
MODEL_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}\Z")
PART_NUMBER_MAX = 32  # Gateway.part_number's max_length


def normalize_gateway_id(value: str) -> str:
    """Upper-case half-width, without the spaces and hyphens people add when copying."""
    return re.sub(r"[\s\-‐－ー]", "", to_halfwidth_ascii(value)).upper()


def is_valid_gateway_id(value: str) -> bool:
    return bool(GATEWAY_ID_RE.match(value)) and not any(c in value for c in "+#/")
