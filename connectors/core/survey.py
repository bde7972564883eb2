"""Checks shared by the options of survey sources that map questions to Likert items by configuration."""

from __future__ import annotations

import re

from pydantic import field_validator

from connectors.core.stream import Options

ITEM_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


class LikertMappingOptions(Options):
    """`likert_items` name item codes the warehouse can key answers by; `likert_labels` score 1..5."""

    @field_validator("likert_items", check_fields=False)
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [code for code in value.values() if not ITEM_CODE.match(code)]
        if bad:
            raise ValueError(f"item codes must be lower-case letters, digits and _ (got {bad[0]!r})")
        return value

    @field_validator("likert_labels", check_fields=False)
    @classmethod
    def _labels(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [label for label, score in value.items() if not 1 <= score <= 5]
        if bad:
            raise ValueError(f"labels must map to 1..5 (got {bad[0]!r}: {value[bad[0]]})")
        return value
