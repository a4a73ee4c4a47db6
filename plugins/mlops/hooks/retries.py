"""Throttling retries from botocore's own retry modes, under whatever configuration the user gave.

botocore retries in one of three modes. The default, "legacy", retries a fixed list of codes a few
times; "standard" and "adaptive" retry every throttling code botocore knows (`ThrottlingException`,
`TooManyRequestsException`, `LimitExceededException`, ... in `botocore.retries.standard`) with
jittered exponential backoff capped at 20 s, and "adaptive" also slows the client's own sending
rate. A hook that needs throttling retried names its mode here instead of looping around calls,
which would multiply its attempts by botocore's.

The user's `botocore_config` (operator argument, or the connection's `config_kwargs`) wins key by
key, so it can raise `max_attempts` or pick a mode; an unset mode never falls back to legacy.
"""

from __future__ import annotations

from typing import Literal

from botocore.config import Config

RetryMode = Literal["standard", "adaptive"]


def with_retries(config: Config | None, mode: RetryMode = "standard", max_attempts: int = 10) -> Config:
    """`config` with `retries` filled in: the given keys kept, `mode` and `max_attempts` defaulted."""
    config = config or Config()
    given = config.retries or {}
    attempts = {} if "total_max_attempts" in given else {"max_attempts": max_attempts}
    return config.merge(Config(retries={"mode": mode, **attempts, **given}))
