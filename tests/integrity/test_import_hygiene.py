"""The integrity core imports neither the CLI's libraries nor, until needed, cryptography."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_integrity_core_pulls_in_no_cli_or_crypto_library() -> None:
    probe = (
        "import sys, auditcli.integrity, auditcli.integrity.keybase; "
        "print(sorted(m for m in ('typer', 'rich', 'cryptography') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
