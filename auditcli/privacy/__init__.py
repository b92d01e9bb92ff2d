"""Keeping log content safe to show: terminal escaping (secrets and pseudonyms to come)."""
