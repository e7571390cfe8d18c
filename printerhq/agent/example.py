"""The commented example printed by ``printerhq agent --print-example-config``.

:data:`EXAMPLE_CONFIG` uses documentation ranges (RFC 5737) and ``hq.example`` is reserved
(RFC 2606): copied unchanged it scans nobody's network. :func:`example_config` puts in the
subnets ``targets = ["auto"]`` would choose on this machine, saying so in a comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from printerhq.autotargets import Decision, chosen_subnets

EXAMPLE_CONFIG = """\
# printerhq agent configuration (TOML). Check it with: printerhq agent --check-config FILE

[server]
url = "https://hq.example:8443"            # the central server (printerhq serve)
token_file = "/etc/printerhq/token"       # this agent's token (printerhq server add-agent)
ca_bundle = "/etc/printerhq/hq.pem"       # trust anchor for the server certificate
# pin_sha256 = "…"                        # or: the server certificate's SHA-256 (printed by serve)

[[scan]]
targets = ["192.0.2.0/24", "198.51.100.0/24", "!198.51.100.128/25"]
interval = "15m"                          # warm metrics of the printers already known
discovery_interval = "24h"                # the whole range, for new devices
port = 161                                # optional
communities = ["public"]                  # or a v3 user section:
# [scan.v3]
# user = "monitor"
# file = "/etc/printerhq/v3"              # user=/auth=/priv= lines, mode 600
# timeout = "1s"   retries = 1   rate = 500   concurrency = 1024   icmp = true

[site]                                    # what the site allows; all default to off
remote_config = false                     # accept [[scan]] sections pushed by the server
health_check = false                      # printerhq health-check may restart this agent
updates = false                           # install signed updates ([updates] public_key)
audit = false                             # log every request and upload (printerhq audit)

[agent]
# name = "site-a"                         # default: the host name
state_dir = "/var/lib/printerhq"          # discovery memory, caches, spool, status files
jitter = "30s"                            # the first cycle waits 0..jitter (spreads agents)

# [updates]                               # used with [site] updates = true
# public_key = "…"                        # ed25519 key that signs releases
# check_interval = "6h"
# install_root = "/var/lib/printerhq/updates"   # default: <state_dir>/updates
# trial_deadline = "2m"                   # the new version must show a good cycle by then

# [audit]                                 # used with [site] audit = true (docs/audit.md)
# max_file_mb = 8   files = 4             # <state_dir>/audit/audit.log: at most 4 x 8 MiB
# keep_uploads = 20                       # the last 20 uploads, for printerhq audit --show-upload

# [traps]                                 # SNMP traps (docs/traps.md)
# enabled = false
# listen = "0.0.0.0:162"                  # below 1024 needs CAP_NET_BIND_SERVICE
# communities = ["public"]                # empty: any
"""

_EXAMPLE_TARGETS = 'targets = ["192.0.2.0/24", "198.51.100.0/24", "!198.51.100.128/25"]\n'


def example_config(decisions: Sequence[Decision]) -> str:
    """The example with the subnets chosen from this machine's interfaces (``decisions``, see
    :func:`printerhq.interfaces.auto_decisions`), or the documentation ranges if none."""
    subnets = chosen_subnets(decisions)
    if not subnets:
        return EXAMPLE_CONFIG.replace(
            _EXAMPLE_TARGETS,
            "# No attached subnet was detected on this machine: the ranges below are examples.\n"
            + _EXAMPLE_TARGETS,
        )
    skipped = sorted({f"{d.interface} ({d.reason})" for d in decisions if not d.taken})
    lines = [
        "# Detected on this machine's interfaces (printerhq scan auto --list-targets shows why);",
        '# targets = ["auto"] follows them when they change.',
    ]
    if skipped:
        lines.append("# Skipped: " + ", ".join(skipped)[:400])
    quoted = ", ".join(f'"{subnet}"' for subnet in subnets)
    lines.append(f"targets = [{quoted}]")
    return EXAMPLE_CONFIG.replace(_EXAMPLE_TARGETS, "\n".join(lines) + "\n")
