# The config drive's two JSON files in one jq run (jq 1.6 takes about a second to start under
# software emulation): meta_data.json's lines first, then network_data.json's.
#   jq -n -r -L /usr/lib/stratus-demo --slurpfile meta M --slurpfile network N -f config.jq
include "meta";
include "network";
($meta[0] // {} | meta_lines), ($network[0] // {} | network_lines)
