-- table: The day's records that opened their contact, judged once (sql/detect/contacts.sql: the contact's outcome, whether the record tries a target) and marked with the services their source uses (sql/detect/service_marks.sql). Every detector of the day reads its probes from here instead of judging the events again (issue 27); analysts read it to see why a record counted as a probe or not.
-- grain: one row per record of `events` that opened its contact (a record that answers another is left out: no detector reads it)
-- built by: pipelines.detect.contacts:contacts_day(settings)
-- read as: view
-- A day's steps read it in place of `service_marks` and `contacts` (`-- stored as:` of service_marks.sql;
-- pipelines/detect/__init__.py:ensure_probes), so `probes` is a filter of its rows. It holds the columns of
-- `events` the detectors read; a detector that reads another column of the probes adds it here.
-- column event_date DATE: UTC day of the record (lake partition).
-- column ts TIMESTAMP WITH TIME ZONE: Time of the record, UTC (events.ts).
-- column src_ip VARCHAR: Source address: the side that opened the contact.
-- column dst_ip VARCHAR: Destination address.
-- column src_port INTEGER: Source port; null for ICMP.
-- column dst_port INTEGER: Destination port (ICMP type for ICMP).
-- column proto VARCHAR: Transport protocol (events.proto).
-- column tcp_flags VARCHAR: TCP flags of the record as letters (events.tcp_flags).
-- column source_kind VARCHAR: Input family: pcap, flow, firewall, honeypot, sensor.
-- column source_file VARCHAR: Input file the record came from (events.source_file): TRW judges conversations only from files that show answers.
-- column opened BOOLEAN: Always true: the record is the side that opened its contact (spoke first).
-- column answered BOOLEAN: The contact got anything back (a reverse record, a biflow's backward packets).
-- column contact_outcome VARCHAR: succeeded, failed or unknown (sql/detect/contacts.sql says how each format is read).
-- column outcome_from VARCHAR: Where the outcome was read: record, flags, conversation or icmp.
-- column probe_record BOOLEAN: The record, judged on its own and with its conversation, tries a target rather than carrying an exchange.
-- column to_group BOOLEAN: The record went to a multicast or broadcast group (no target of a scan).
-- column to_used_port BOOLEAN: The source uses this protocol and port (most hosts it reached there gave it a conversation that succeeded).
-- column to_used_host BOOLEAN: The source had a used conversation with this host on this protocol and port.
-- check critical: ExpectColumnValuesToBeInSet(column="contact_outcome", value_set=["succeeded", "failed", "unknown"])
SELECT
    event_date, ts, src_ip, dst_ip, src_port, dst_port, proto, tcp_flags, source_kind, source_file,
    opened, answered, contact_outcome, outcome_from, probe_record, to_group, to_used_port, to_used_host
FROM service_marks
