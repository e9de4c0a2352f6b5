"""The node's network wiring: what a NetworkState from the controller asks for, made real in
this host's kernel (Linux bridges, VXLAN, VLAN sub-interfaces, nftables, dnsmasq).

`wiring.NetworkWiring` is the entry point; the other modules each make one kind of object.
Nothing here imports protobuf: the agent converts at the edge (`compute_node/convert.py`).
See docs/adr/0011-node-network-wiring.md.
"""
