"""Types of the C fast path (_jcsline.c)."""

def examine(
    line: bytes, hash_key: bytes, prev_key: bytes, time_keys: tuple[bytes, ...], /
) -> tuple[bytes, str, str, object] | None: ...
