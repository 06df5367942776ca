-- table: tag_macros (intermediate of source_tags): the per-packet signatures of scanning tools, as macros.
-- kind: intermediate (run by Python, not stored in the warehouse)
-- Per-packet signatures of scanning tools, as DuckDB macros over header fields (installed by pipelines/tags.py).
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
-- `unsigned ip_id = ip_them ^ port_them ^ seqno;`, of which the 16-bit header field keeps the low
-- bits. Every packet masscan's own stack builds goes through it (SYNs, and the ACKs/data of
-- --banners), whatever its version's TCP options. IPv4 only (IPv6 has no IP ID). A random packet
-- fits by chance 1 time in 65,536: source_tags.sql asks for several probes that all fit.
CREATE OR REPLACE TEMP MACRO is_masscan_probe(dst_ip, dst_port, tcp_seq, ip_id) AS
    coalesce(ip_id = xor(xor(ipv4_to_int(dst_ip), dst_port::UBIGINT), tcp_seq::UBIGINT) & 65535, false);
-- Mirai's scanner sets the TCP sequence number to the destination address: the leaked source
-- (jgamblin/Mirai-Source-Code, mirai/bot/scanner.c, scanner_init()) `tcph->seq = iph->daddr;` (both
-- in network byte order, so equal as read). Its variants keep the line while changing the port
-- (23/2323, 80, 8080, 37215, 52869 ...), so the rule has no port. Chance for a random packet: 1 in 2^32.
CREATE OR REPLACE TEMP MACRO is_mirai_probe(dst_ip, tcp_seq) AS
    coalesce(tcp_seq::UBIGINT = ipv4_to_int(dst_ip), false);
-- Nmap's raw TCP probes (-sS, -sF, -sN, -sX, -sA, -sW, -sM) come from libnetutil's build_tcp_raw()
-- (nmap libnetutil/netutil.cc): with no window asked for, `tcp->th_win = htons(1024 * (myttl % 4 + 1));`
-- i.e. 1024..4096 (the synscan capture, nmap 4/5), and 1024 in the probing capture (nmap 7); the
-- TTL is drawn at random, `(get_random_uint() % 23) + 37` (37..59), per probe unless --ttl is given.
-- One packet shows only the window; the TTL spread shows over a source's probes
-- (sql/history/source_tags.sql), which is what tells nmap from masscan's constant TTL 255, window 1024.
CREATE OR REPLACE TEMP MACRO is_nmap_raw_window(tcp_window) AS coalesce(tcp_window IN (1024, 2048, 3072, 4096), false);
-- Nmap's SYN scan (-sS) sends exactly one TCP option, MSS 1460: nmap scan_engine_raw.cc,
-- sendIPScanProbe(): `if (pspec->pd.tcp.flags & TH_SYN) { tcpops = (u8 *) TCP_SYN_PROBE_OPTIONS; ...}`
-- with nmap.h `#define TCP_SYN_PROBE_OPTIONS "\x02\x04\x05\xb4"` (/* MSS 1460 */). Its other raw scans
-- (-sF -sN -sX -sA -sW -sM) send no option. Masscan 1.3 also sends a lone MSS 1460 with window 1024
-- (masscan src/templ-pkt.c default_tcp_template: `"\x02\x04\x05\xb4" /* opt [mss 1460] */`), so the
-- rule excludes masscan's IP ID and its TTL 255 in source_tags.sql. tcp_options is the kinds list
-- of events ('2' = MSS alone), tcp_mss its value.
CREATE OR REPLACE TEMP MACRO is_nmap_syn_probe(tcp_flags, tcp_window, tcp_options, tcp_mss) AS
    coalesce(tcp_flags = 'S' AND is_nmap_raw_window(tcp_window) AND tcp_options = '2' AND tcp_mss = 1460, false);
