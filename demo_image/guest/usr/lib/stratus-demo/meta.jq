# meta_lines: OpenStack's meta_data.json as lines "KEY<tab>VALUE" for the boot script: the
# instance's uuid, its hostname (else its name), and each SSH public key once (public_keys,
# and the `keys` list's ssh entries).
def line($key): select(. != null and . != "") | [$key, (tostring | sub("\\s+$"; ""))] | @tsv;
def meta_lines:
  (.uuid | line("uuid")),
  ((.hostname // .name) | line("hostname")),
  ([(.public_keys // {} | .[]), (.keys // [] | .[] | select(.type == "ssh") | .data)]
   | map(sub("\\s+$"; "")) | unique | .[] | line("key"));
