"""Files checked against a JSON schema with check-jsonschema, as a list of what is wrong where.

Shared by the deployment tests (the Compose file, against the schema check-jsonschema ships) and the dbt
package tests (against dbt's schemas, vendored in tests/vendor/dbt-jsonschema).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def schema_errors(paths: Sequence[Path], schema: Sequence[str]) -> list[tuple[str, str, str]]:
    """(file, path in the file, message) for each place the files break the schema; `schema` is the
    check-jsonschema option naming it (`--builtin-schema NAME` or `--schemafile FILE`)."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *schema, "-o", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"check-jsonschema did not run (is it installed?): {result.stderr}") from None
    errors = []
    for error in report.get("errors", []):
        deepest = error.get("best_deep_match") or error
        errors.append((error.get("filename", ""), deepest["path"], deepest["message"]))
    for error in report.get("parse_errors", []):
        errors.append((error.get("filename", ""), "", error.get("message", "cannot be parsed")))
    assert (result.returncode == 0) == (not errors), result.stdout + result.stderr
    return errors
