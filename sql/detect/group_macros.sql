-- table: group_macros (intermediate of contacts and of a shard's events): what a record sent to a multicast or broadcast group is, as a macro.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- The one definition of a record sent to a group, installed by pipelines/detect/__init__.py wherever
-- contacts.sql runs and where a shard's events are filtered (pipelines/steps.py): one datagram to a group
-- reaches every member (mDNS, LLMNR, SSDP, NetBIOS). Temporary: it lives in the connection, never in the file.
-- sent_to_group: the destination is IPv4 multicast (224.0.0.0/4, read as a first octet 224..239), the
-- limited broadcast 255.255.255.255 or IPv6 multicast (ff00::/8); or, for UDP only, an IPv4 address
-- ending in .255 (the directed broadcast of the common /24; a TCP host may own such an address in a wider
-- subnet). Never null: a record whose address or protocol is missing is not sent to a group.
CREATE OR REPLACE TEMP MACRO sent_to_group(dst_ip, proto) AS
    coalesce(
        dst_ip = '255.255.255.255'
        OR (dst_ip LIKE '%.%' AND TRY_CAST(split_part(dst_ip, '.', 1) AS INTEGER) BETWEEN 224 AND 239)
        OR lower(dst_ip) LIKE 'ff%:%'
        OR (proto = 'udp' AND dst_ip LIKE '%.%.%.255'),
        false
    );
