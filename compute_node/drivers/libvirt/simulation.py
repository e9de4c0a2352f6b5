"""libvirt's test driver as a simulated host whose domains outlive the agent.

Nothing runs on the test driver: it is a simulation of a hypervisor, for development and
tests, and it lives inside the process that opens it. When the agent stops, a
`test:///default` host and its domains vanish, and the controller would then find every
server missing. A node file URI (`test:///path/node.xml`) is the simulated host's disk: the
driver rewrites that file with every persistent domain it holds (its definition, its run
state, and whether it has a managed save image, in the test driver's own `test:` XML
namespace) after each change and when it closes. The next open of the same file, by the next
agent, finds the same domains in the same states, as a real host's daemon would keep them.
"""

from __future__ import annotations

import os
import tempfile
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import libvirt

TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def node_file(uri: str) -> Path | None:
    """The node file of a `test:///path` URI; None for anything else (`test:///default`,
    a daemon's URI, a real hypervisor)."""
    if not uri.startswith("test:///") or uri.split("?")[0] == "test:///default":
        return None
    return Path(uri[len("test://") :].split("?")[0])


def _domain_xml(dom: libvirt.virDomain) -> str:
    definition = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE).rstrip()
    state, _reason = dom.state()
    extra = f'<test:runstate xmlns:test="{TEST_NS}">{state}</test:runstate>'
    if dom.hasManagedSaveImage(0):
        extra += f'<test:hasmanagedsave xmlns:test="{TEST_NS}">true</test:hasmanagedsave>'
    assert definition.endswith("</domain>")
    return definition[: -len("</domain>")] + extra + "</domain>\n"


class SimulatedHostFile:
    """Writes a test driver connection's domains into its node file (see the module)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def save(self, conn: libvirt.virConnect) -> None:
        with self._lock:
            root = ET.parse(self.path).getroot()
            host = "".join(
                ET.tostring(child, encoding="unicode") for child in root if child.tag != "domain"
            )
            domains = []
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT):
                try:
                    domains.append(_domain_xml(dom))
                except libvirt.libvirtError:  # undefined meanwhile
                    continue
            text = f"<node>\n{host.strip()}\n{''.join(domains)}</node>\n"
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".node-")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, self.path)
