"""Asterisk over FastAGI: the wire protocol, the :class:`~runtime.call.Channel` built on it and
the server that accepts Asterisk's connections. The AGI protocol is ours (no panoramisk)."""

from runtime.agi.channel import AgiChannel, default_sound
from runtime.agi.protocol import (
    AgiCommandError,
    AgiConnection,
    AgiError,
    AgiHangup,
    AgiProtocolError,
    AgiTimeout,
    AgiUsageError,
    Reply,
    Word,
    command,
    parse_environment,
    parse_reply,
    quote,
)
from runtime.agi.server import FastAgiServer

__all__ = [
    "AgiChannel",
    "AgiCommandError",
    "AgiConnection",
    "AgiError",
    "AgiHangup",
    "AgiProtocolError",
    "AgiTimeout",
    "AgiUsageError",
    "FastAgiServer",
    "Reply",
    "Word",
    "command",
    "default_sound",
    "parse_environment",
    "parse_reply",
    "quote",
]
