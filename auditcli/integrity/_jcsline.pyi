"""Types of the C fast path (_jcsline.c)."""

def examine(
    line: bytes, hash_key: bytes, prev_key: bytes, time_keys: tuple[bytes, ...], /
) -> tuple[bytes, str, str, object] | None: ...
def examine_block(
    data: bytes,
    start: int,
    max_lines: int,
    hash_key: bytes,
    prev_key: bytes,
    time_keys: tuple[bytes, ...],
    sha256: bool,
    /,
) -> tuple[
    list[bytes | str | None], list[str | None], list[str | None], list[object], bytes, int, bool
]: ...
def link_block(
    data: bytes, hash_key: bytes, prev_key: bytes, time_keys: tuple[bytes, ...], /
) -> tuple[bytes, bytes, str, str, str] | None: ...
