-- Per-packet signatures of scanning tools, as DuckDB macros over header fields (pipelines/tags.py).
-- Each cites where its rule comes from. Temporary: they live in the connection, never in the file.
-- ipv4_to_int: dotted IPv4 text as the 32-bit number the header carries (null for anything else).
CREATE OR REPLACE TEMP MACRO ipv4_to_int(ip) AS
    CASE WHEN regexp_full_match(ip, '[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}') THEN
        split_part(ip, '.', 1)::UBIGINT * 16777216 + split_part(ip, '.', 2)::UBIGINT * 65536
        + split_part(ip, '.', 3)::UBIGINT * 256 + split_part(ip, '.', 4)::UBIGINT
    END;
-- ZMap writes the constant IP ID 54321 into every probe: zmap src/probe_modules/packet.c,
-- make_ip_header(): `iph->ip_id = htons(54321);`.
CREATE OR REPLACE TEMP MACRO is_zmap_probe(ip_id) AS coalesce(ip_id = 54321, false);
-- Masscan derives the IP ID from its SYN cookie: masscan src/templ-pkt.c, tcp_create_packet():
-- `ip_id = ip_them ^ port_them ^ seqno;`, of which the header keeps the low 16 bits.
-- Needs the TCP sequence number, which events do not carry yet.
CREATE OR REPLACE TEMP MACRO is_masscan_probe(dst_ip, dst_port, tcp_seq, ip_id) AS
    coalesce(ip_id = xor(xor(ipv4_to_int(dst_ip), dst_port::UBIGINT), tcp_seq::UBIGINT) & 65535, false);
-- Mirai's scanner sets the TCP sequence number to the destination address: Mirai
-- loader/bot/scanner.c, `tcph->seq = iph->daddr;` (both in network byte order, so equal as read).
-- Needs the TCP sequence number, which events do not carry yet.
CREATE OR REPLACE TEMP MACRO is_mirai_probe(dst_ip, tcp_seq) AS
    coalesce(tcp_seq::UBIGINT = ipv4_to_int(dst_ip), false);
-- Nmap's raw TCP probes (-sS, -sF, -sN, -sX, -sA, -sW, -sM) come from libnetutil's build_tcp_raw():
-- a random TTL `(get_random_uint() % 23) + 37` (37..59) and, unless a window is asked for,
-- `1024 * (myttl % 4 + 1)` in older releases (the synscan capture) or 1024 in nmap 7 (the probing
-- capture). One packet shows only the window; the TTL spread shows over a source's probes
-- (sql/history/source_tags.sql), which is what tells nmap from masscan's constant TTL 255, window 1024.
CREATE OR REPLACE TEMP MACRO is_nmap_raw_window(tcp_window) AS coalesce(tcp_window IN (1024, 2048, 3072, 4096), false);
-- Nmap's SYN scan sends exactly one TCP option, MSS 1460 (scan_engine_raw.cc: tcpopts "\x02\x04\x05\xb4").
-- Needs the TCP options (hex), which events do not carry yet.
CREATE OR REPLACE TEMP MACRO is_nmap_syn_options(tcp_options_hex) AS coalesce(lower(tcp_options_hex) = '020405b4', false);
