# network_lines: OpenStack's network_data.json as tab-separated lines for the boot script
# ("-" for nothing):
#   link   MAC  MTU
#   net    TYPE MAC ADDRESS/PREFIX    (TYPE: ipv4, ipv6, ipv4_dhcp, ipv6_slaac, ...)
#   route  MAC  NETWORK/PREFIX GATEWAY
#   dns    ADDRESS
# A netmask is turned into a prefix length by counting its bits (dotted IPv4 or IPv6 hex).
def prefix:
  if . == null then null
  elif type == "number" then .
  elif test("^[0-9]+$") then tonumber
  elif test(":") then [ascii_downcase | explode[] | [.] | implode
                       | {"f": 4, "e": 3, "c": 2, "8": 1}[.] // 0] | add
  else [split(".")[] | {"255": 8, "254": 7, "252": 6, "248": 5, "240": 4, "224": 3,
                        "192": 2, "128": 1}[.] // 0] | add
  end;
def cidr($address; $netmask):
  if $address == null or $address == "" then "-"
  elif ($address | contains("/")) then $address
  else "\($address)/\($netmask | prefix // (if ($address | contains(":")) then 64 else 32 end))"
  end;
def field: if . == null or . == "" then "-" else tostring end;
def mac_field: if type == "string" then ascii_downcase else . end | field;
def dns: .services // [] | .[] | select(.type == "dns") | ["dns", (.address | field)];

def network_lines:
  (.links // []) as $links
  | def mac($id): first($links[] | select(.id == $id) | .ethernet_mac_address) // null;
    ($links[] | ["link", (.ethernet_mac_address | mac_field), (.mtu | field)]),
    (.networks // [] | .[] | . as $n | (mac($n.link) | mac_field) as $mac
      | ["net", ($n.type | field), $mac, cidr($n.ip_address; $n.netmask)],
        ($n.routes // [] | .[] | ["route", $mac, cidr(.network; .netmask), (.gateway | field)]),
        ($n | dns)),
    dns
  | @tsv;
