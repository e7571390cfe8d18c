"""The data collector agent (``printerhq agent --config FILE``): an application layer over the
engine and the uplink. It runs cycles on a schedule, keeps one stream to the server open, accepts
a remote configuration when the site allows it, reports its health, and installs signed updates
(docs/agent.md).

Modules: ``config`` (the TOML file), ``durations``, ``schedule`` (sans-IO), ``cycle`` (one scan
of one section), ``remote`` (pushed configuration), ``link`` (control channel), ``files``
(pidfile, heartbeat, status), ``notify`` (sd_notify), ``logs``, ``service`` (the task tree),
``update``/``update_state`` (signed updates), ``health``/``revive``/``site``/``units``
(health check and systemd units). Nothing below the application layer imports this
package.
"""
