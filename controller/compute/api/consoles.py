"""Console URLs: a token issued for a server the caller may see, in the URL of the page (or
websocket) the console proxy serves for its type."""

from __future__ import annotations

import datetime

from controller.compute.api import servers
from controller.compute.api.caller import Caller
from controller.compute.consoleauth import tokens
from controller.compute.consoleauth.config import ConsoleSection
from controller.db.database import Database
from controller.db.queries import utcnow
from stratus_common.errors import FailedPrecondition

# The proxy's page for each type (controller/console/static/), or its websocket for serial.
PAGES = {"novnc": "/vnc.html", "spice-html5": "/spice.html", "serial": "/websockify"}


class ConsoleUrls:
    def __init__(self, db: Database, settings: ConsoleSection):
        self.db = db
        self.settings = settings

    async def create(
        self, caller: Caller, server_id: str, console_type: str
    ) -> tuple[str, datetime.datetime, str]:
        """(url, expiry, server id). NOT_FOUND for a server the caller may not see (whether
        this cloud has a console proxy or not: a server's existence never leaks)."""

        def issue():
            with self.db.write_transaction():
                server = servers.get(caller, server_id)
                if not self.settings.listen:
                    raise FailedPrecondition(
                        "this cloud has no console proxy ([console] listen)",
                        reason="CONSOLE_PROXY_NOT_CONFIGURED",
                    )
                token, expires = tokens.issue(
                    server,
                    console_type,
                    caller.user_id,
                    caller.project_id,
                    self.settings.token_ttl,
                    utcnow(),
                )
                return token, expires, server.id

        token, expires, found = await self.db.run(issue)
        base = self.settings.url_base()
        if console_type == "serial":
            base = "ws" + base[len("http") :]
        return f"{base}{PAGES[console_type]}?token={token}", expires, found
