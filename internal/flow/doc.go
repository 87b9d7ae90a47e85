// Package flow turns raw frames into flows: the key a packet belongs to,
// the Community ID of that key, and a bounded table that gathers packets
// into bidirectional flows and hands each finished one to a callback.
//
// Data flows through it in three steps, each usable alone:
//
//	frame bytes + link type --Extract--> Packet (inner 5-tuple, TCP flags,
//	    outer terms: tunnel addresses, ports, protocols, VLAN ids)
//	Packet.Key --Canonical--> the flow's direction-free key --Key.ID-->
//	    "1:base64(sha1(...))" (corelight's community-id-spec, version 1)
//	Packet + timestamp + frame length --Table.Add--> per-flow counters;
//	    a flow ends on FIN and FIN or RST (after a short linger), when idle,
//	    when evicted from a full table, or at Flush, and goes to Config.Emit
//
// Extract is stateless, so a later IP fragment, which carries no ports,
// has an address-only key; Fragments (inside every Table) remembers the
// flows of first fragments and counts the later ones in them, as Zeek and
// Suricata count them after reassembly.
//
// Extract reads every byte through bounds checks and allocates nothing;
// the caller may reuse the frame after it returns (a Packet holds no
// reference to it). Encapsulated traffic (802.1Q/QinQ, MPLS, PPPoE,
// VN-Tag, Cisco FabricPath, VXLAN, GENEVE, Teredo, GRE with ERSPAN types
// I, II and III, PPTP's GRE, IP-in-IP, IPv6-in-IP, IPv4 and IPv6
// authentication headers) is keyed by its innermost 5-tuple, as Zeek and
// Suricata key it, so that a Community ID from their alerts names the
// flow here; the tunnels' own addresses, ports, protocols, identifiers
// and the VLAN ids are returned beside it as outer terms for an index.
//
// A Table is not safe for concurrent use: one goroutine (the recorder's
// writer, or a command walking stored packets) owns it. Its clock is the
// packets' own timestamps, so the same packets always give the same flows.
package flow
