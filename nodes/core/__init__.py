"""Built-in node types (``core.*``), listed explicitly: the registry's first source."""

from __future__ import annotations

from nodes.core.branch import Branch
from nodes.core.collect import Collect
from nodes.core.counter import Counter
from nodes.core.hangup import Hangup
from nodes.core.http import HttpRequest
from nodes.core.language import LanguageSelect
from nodes.core.menu import Menu
from nodes.core.play import Play
from nodes.core.record import Record
from nodes.core.return_ import Return
from nodes.core.say import Say
from nodes.core.set_variable import SetVariable
from nodes.core.start import Start
from nodes.core.subflow import Subflow
from nodes.core.transfer_number import TransferNumber
from nodes.core.transfer_queue import TransferQueue
from nodes.core.voicemail import Voicemail

BUILTIN_NODES = (
    Start,
    Play,
    Menu,
    Collect,
    Say,
    LanguageSelect,
    SetVariable,
    Branch,
    Counter,
    Subflow,
    Return,
    HttpRequest,
    TransferQueue,
    TransferNumber,
    Voicemail,
    Record,
    Hangup,
)

__all__ = ["BUILTIN_NODES"]
