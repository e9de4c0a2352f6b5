"""The controller's composition root: configuration, database, policy and the areas' services."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import typing
from pathlib import Path

from controller import services
from controller.auth.policy import Enforcer
from controller.config import Config
from controller.db import migrate
from controller.db.database import Database
from controller.limits.config import LimitsSection
from controller.limits.slots import Slots

log = logging.getLogger(__name__)


@dataclasses.dataclass
class PolicySection:
    section: typing.ClassVar[str] = "policy"
    # YAML or JSON file overriding single rules; empty = defaults only.
    file: str = ""


@dataclasses.dataclass
class Registration:
    servicer: object
    descriptor: object  # the generated ServiceDescriptor


class App:
    """Everything the listeners need, built once; areas register onto it in `setup(app)`."""

    def __init__(self, config: Config, *, check_schema: bool = True):
        self.config = config
        ctl = config.controller
        self.state_dir = Path(ctl.state_dir)
        url = config.database.url or f"sqlite:///{self.state_dir / 'stratus.db'}"
        self.db = Database(url, workers=config.database.workers)
        if check_schema:
            migrate.check_current(self.db.engine)
        policy_file = config.section(PolicySection).file
        self.enforcer = Enforcer(policy_file or None)
        # What long calls (streams, image transfers) may hold, shared by the areas.
        self.limits = config.section(LimitsSection)
        self.slots = Slots(self.limits)
        self.public_services: list[Registration] = []
        self.node_services: list[Registration] = []
        self.background: list[typing.Callable[[], typing.Awaitable]] = []
        self.on_start: list[typing.Callable[[App], typing.Awaitable]] = []
        self.on_stop: list[typing.Callable[[App], typing.Awaitable]] = []
        self.authenticate = None  # set by the identity area: async (token) -> Identity
        self.page_tokens = None  # set by the identity area: PageTokens
        self.node_listener = None  # set by the certificate authority area
        for name in services.AREAS:
            importlib.import_module(name).setup(self)
        self.enforcer.load_overrides()  # also checks the references between all registered rules
        config.check_unknown()

    def add_public_service(self, servicer, descriptor):
        self.public_services.append(Registration(servicer, descriptor))

    def add_node_service(self, servicer, descriptor):
        self.node_services.append(Registration(servicer, descriptor))

    def close(self):
        self.db.close()
