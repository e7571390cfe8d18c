"""Versioned schema migrations, one list shared by SQLite and PostgreSQL.

Each migration is a list of statements with two placeholders that differ by dialect: ``{pk}`` (an
auto-increment integer key) and ``{blob}`` (bytes). ``schema_version`` records what has been
applied; a migration and its version row commit in one transaction, so a crash mid-upgrade
re-runs it cleanly. Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[list[str]] = [
    # 1: agents, idempotency keys, devices, readings as a time series per device.
    [
        """CREATE TABLE agents (
            id {pk},
            name TEXT NOT NULL UNIQUE,
            token_hash TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION,
            last_seen DOUBLE PRECISION,
            last_address TEXT,
            batches_total BIGINT NOT NULL DEFAULT 0,
            reports_total BIGINT NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE batches (
            agent_id BIGINT NOT NULL REFERENCES agents(id),
            batch_id TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            reports INTEGER NOT NULL,
            PRIMARY KEY (agent_id, batch_id)
        )""",
        """CREATE TABLE devices (
            id {pk},
            device_key TEXT NOT NULL UNIQUE,
            address TEXT NOT NULL,
            vendor TEXT,
            model TEXT,
            serial TEXT,
            mac TEXT,
            sys_name TEXT,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            last_agent_id BIGINT REFERENCES agents(id)
        )""",
        """CREATE TABLE readings (
            id {pk},
            device_id BIGINT NOT NULL REFERENCES devices(id),
            agent_id BIGINT NOT NULL REFERENCES agents(id),
            batch_id TEXT NOT NULL,
            scanned_at DOUBLE PRECISION NOT NULL,
            received_at DOUBLE PRECISION NOT NULL,
            report {blob} NOT NULL
        )""",
        "CREATE INDEX readings_device_time ON readings(device_id, scanned_at)",
        "CREATE INDEX readings_batch ON readings(agent_id, batch_id)",
        """CREATE TABLE counter_readings (
            reading_id BIGINT NOT NULL REFERENCES readings(id),
            device_id BIGINT NOT NULL,
            scanned_at DOUBLE PRECISION NOT NULL,
            name TEXT NOT NULL,
            value BIGINT NOT NULL
        )""",
        "CREATE INDEX counter_readings_device ON counter_readings(device_id, name, scanned_at)",
        """CREATE TABLE supply_readings (
            reading_id BIGINT NOT NULL REFERENCES readings(id),
            device_id BIGINT NOT NULL,
            scanned_at DOUBLE PRECISION NOT NULL,
            idx INTEGER NOT NULL,
            description TEXT NOT NULL,
            kind TEXT NOT NULL,
            colour TEXT,
            level BIGINT,
            capacity BIGINT,
            percent DOUBLE PRECISION,
            state TEXT NOT NULL
        )""",
        "CREATE INDEX supply_readings_device ON supply_readings(device_id, idx, scanned_at)",
    ],
    # 2: token roles. An "agent" token uploads; a "viewer" token reads the fleet (API, metrics,
    # dashboard). Both live in one table so names and token hashes stay unique across roles;
    # every row that existed before this migration was an agent.
    [
        "ALTER TABLE agents ADD COLUMN role TEXT NOT NULL DEFAULT 'agent'",
        "CREATE INDEX agents_role ON agents(role, name)",
    ],
    # 3: the wire version each batch was sent in, and the schema version of each reading (what
    # the agent declared; the stored report is re-encoded in this server's schema). Every row
    # before this migration came from wire 1.0, schema 1, the only version released until then.
    [
        "ALTER TABLE batches ADD COLUMN wire_major INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE batches ADD COLUMN wire_minor INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE readings ADD COLUMN schema_version INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE readings ADD COLUMN wire_minor INTEGER NOT NULL DEFAULT 0",
    ],
    # 4: signed releases for agent updates (``printerhq server publish-update``). The wheel lives
    # in the database like everything else, so every instance sharing one PostgreSQL serves it.
    # ``manifest`` holds the exact signed bytes; ``signature`` their Ed25519 signature.
    [
        """CREATE TABLE releases (
            id {pk},
            name TEXT NOT NULL,
            version TEXT NOT NULL UNIQUE,
            manifest {blob} NOT NULL,
            signature {blob} NOT NULL,
            wheel {blob} NOT NULL,
            published_at DOUBLE PRECISION NOT NULL
        )""",
        # What agents report about releases: installed, or refused and why (shown to viewers).
        """CREATE TABLE update_reports (
            id {pk},
            agent_id BIGINT NOT NULL REFERENCES agents(id),
            received_at DOUBLE PRECISION NOT NULL,
            version TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX update_reports_agent ON update_reports(agent_id, received_at)",
    ],
    # 5: the agent service (issue 10). agent_configs: the versioned remote configuration an
    # administrator set for each agent (TOML text, [[scan]] only; the agent validates it).
    # agent_status: what each agent last said on its stream — software version, state,
    # heartbeat, the last cycle (JSON) and the outcome of the last configuration it was offered.
    [
        """CREATE TABLE agent_configs (
            agent_id BIGINT NOT NULL REFERENCES agents(id),
            version INTEGER NOT NULL,
            document TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            created_by TEXT,
            PRIMARY KEY (agent_id, version)
        )""",
        """CREATE TABLE agent_status (
            agent_id BIGINT PRIMARY KEY REFERENCES agents(id),
            software_version TEXT,
            state TEXT,
            remote_config INTEGER,
            heartbeat_at DOUBLE PRECISION,
            cycle BIGINT,
            last_cycle TEXT,
            config_applied INTEGER,
            config_result_version INTEGER,
            config_outcome TEXT,
            config_reason TEXT
        )""",
    ],
    # 6: reports the server refused per agent (issue 11: values outside the bounds of
    # printerhq/limits.py or the clock window): how many, and the latest reason, for the agents
    # listing. Rows before this migration had none refused (such reports made a 500 then).
    [
        "ALTER TABLE agents ADD COLUMN reports_refused BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE agents ADD COLUMN last_refusal TEXT",
        "ALTER TABLE agents ADD COLUMN last_refusal_at DOUBLE PRECISION",
    ],
    # 7: delta uploads
    # (printerhq.delta). ``digest`` names each reading (BLAKE2b-64 of the stored report): an
    # agent's later reading of the device may travel as a patch against it. Rows from before
    # have none; a delta against them is answered "412 base_unknown" and comes again whole.
    [
        "ALTER TABLE readings ADD COLUMN digest {blob}",
        "CREATE INDEX readings_digest ON readings(agent_id, digest)",
    ],
    # 8: sites (issue 14). A provider serves many customers, each with one or more agents: an
    # agent belongs to a site (``printerhq server add-agent NAME --site SITE``, ``set-site``),
    # and a device to the site of the agent that last reported it. NULL means the agent's own
    # name is its site (every agent before this migration).
    [
        "ALTER TABLE agents ADD COLUMN site TEXT",
        "CREATE INDEX agents_site ON agents(site)",
    ],
    # 9: alerts (issue 14, docs/alerts.md). alert_config: the thresholds and webhooks file an
    # administrator set (``printerhq server set-alerts``), so every instance sharing the
    # database evaluates the same rules. alerts: one row per alert, open until closed_at is set;
    # the partial unique index lets at most one alert per (subject, rule, item) be open, which
    # is what decides when two instances evaluate at once. webhook_outbox: each open and close
    # to deliver to each webhook, claimed by one instance at a time (claimed_by, claimed_until),
    # retried until delivered_at or failed_at; a restart loses nothing.
    [
        """CREATE TABLE alert_config (
            name TEXT PRIMARY KEY,
            document TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE alerts (
            id {pk},
            subject TEXT NOT NULL,
            rule TEXT NOT NULL,
            item TEXT NOT NULL,
            severity TEXT NOT NULL,
            site TEXT,
            label TEXT NOT NULL,
            message TEXT NOT NULL,
            opened_at DOUBLE PRECISION NOT NULL,
            closed_at DOUBLE PRECISION
        )""",
        "CREATE UNIQUE INDEX alerts_one_open ON alerts(subject, rule, item)"
        " WHERE closed_at IS NULL",
        "CREATE INDEX alerts_closed ON alerts(closed_at)",
        """CREATE TABLE webhook_outbox (
            id {pk},
            alert_id BIGINT NOT NULL REFERENCES alerts(id),
            event TEXT NOT NULL,
            url TEXT NOT NULL,
            body {blob} NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            next_at DOUBLE PRECISION NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_until DOUBLE PRECISION,
            delivered_at DOUBLE PRECISION,
            failed_at DOUBLE PRECISION,
            last_error TEXT
        )""",
        "CREATE INDEX webhook_outbox_due ON webhook_outbox(next_at)"
        " WHERE delivered_at IS NULL AND failed_at IS NULL",
    ],
    # 10: the device summary (issue 14/16: forecasts, trouble first, a fleet of 100,000): one row
    # per device with what the fleet page sorts and filters on, refreshed after ingest off the
    # ingest path (printerhq/server/summary.py, summary_refresh.py). ``urgency`` 0 error,
    # 1 runs out, 3 ok as of ``updated_at``; "not seen" is decided at query time from
    # devices.last_seen. ``forecasts``: the per-supply forecasts as JSON (the device page).
    # ``seen`` is the devices.last_seen the row was computed for (a newer one: refresh due).
    [
        """CREATE TABLE device_summary (
            device_id BIGINT PRIMARY KEY REFERENCES devices(id),
            urgency INTEGER NOT NULL,
            problem TEXT NOT NULL,
            status TEXT NOT NULL,
            lowest_percent DOUBLE PRECISION,
            lowest_supply TEXT NOT NULL,
            runs_out_at DOUBLE PRECISION,
            runs_out_supply TEXT NOT NULL,
            total_pages BIGINT,
            forecasts TEXT NOT NULL,
            seen DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX device_summary_runs_out ON device_summary(runs_out_at)",
        "CREATE INDEX device_summary_lowest ON device_summary(lowest_percent)",
        "CREATE INDEX device_summary_urgency ON device_summary(urgency, runs_out_at)",
        "CREATE INDEX devices_last_seen ON devices(last_seen)",
        "CREATE INDEX devices_address ON devices(address)",
    ],
    # 11: retention (issue 14, printerhq/server/retention.py): readings older than the raw window
    # are thinned to one per device per day. ``retention_state`` holds how far the thinning has
    # gone and a lease, so of several instances sharing one PostgreSQL one prunes at a time.
    # The reading_id indexes make deleting a reading cheap: without them every deleted reading
    # costs a scan of both child tables (the foreign key check, SQLite and PostgreSQL alike).
    [
        """CREATE TABLE retention_state (
            name TEXT PRIMARY KEY,
            done_until DOUBLE PRECISION NOT NULL DEFAULT 0,
            lease_holder TEXT,
            lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
        )""",
        "INSERT INTO retention_state(name) VALUES ('readings')",
        "CREATE INDEX counter_readings_reading ON counter_readings(reading_id)",
        "CREATE INDEX supply_readings_reading ON supply_readings(reading_id)",
    ],
]

DIALECT_TYPES = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "blob": "BYTEA"},
}


def statements(dialect: str, version: int) -> list[str]:
    """The SQL of migration ``version`` (1-based) for ``dialect``."""
    types = DIALECT_TYPES[dialect]
    return [s.format(**types) for s in MIGRATIONS[version - 1]]


LATEST = len(MIGRATIONS)
