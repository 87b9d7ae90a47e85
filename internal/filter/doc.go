// Package filter compiles tcpdump's filter language (pcap-filter(7)) into
// classic BPF, with the semantics of libpcap 1.10.3 (Debian 12), in pure
// Go: no cgo, no libpcap.
//
// A Program holds two programs, the same unless noted below:
//
//   - the savefile program (Program.Instructions), what libpcap compiles
//     to filter a capture file. Program.Match, the package's own
//     interpreter, runs it over stored packets exactly as libpcap's
//     pcap_offline_filter does.
//   - the kernel program (Program.KernelInstructions), for
//     SO_ATTACH_FILTER on an AF_PACKET socket: forward jumps only, at
//     most 4096 instructions for a live capture (see below for longer
//     programs). With Options.Live it is what libpcap
//     compiles for a live capture on Linux, where the kernel has moved
//     the outermost VLAN tag into socket metadata: "vlan" tests the
//     metadata (or a tag still in the frame) with the kernel's ancillary
//     loads ("ldb [vlanp]", "ldb [vlan_tci]"), which makes later offsets
//     variable, and "inbound", "outbound" and "ifindex" read the packet
//     type and interface index ("ldh [type]", "ld [ifidx]"). Only the
//     kernel runs those loads; the capture puts the tag back into the
//     frames it stores, so the savefile program is the one that filters
//     them. Expressions that test socket metadata have no savefile
//     program (Instructions is nil, Match rejects everything).
//
// protochain is libpcap's loop in the savefile program, which Match runs
// with a bound that only a chain libpcap would follow forever reaches;
// the kernel refuses backward jumps, so the kernel program unrolls the
// loop for KernelProtochainHeaders headers (beyond that it differs from
// libpcap: see KernelProtochainHeaders).
//
// # How data flows
//
//		expression --lex--> tokens --parse--> AST --codegen--> blocks --layout--> []bpf.RawInstruction --optimize--> (if too long)
//
//	  - lexer.go follows libpcap's scanner.l (flex longest-match rules:
//	    keywords, numbers, dotted and IPv6 addresses, MAC addresses, names).
//	  - parser.go is a recursive-descent parser for grammar.y. It resolves
//	    the qualifier inheritance of the yacc grammar ("host a and b" is
//	    "host a and host b", "tcp port 80 or 443" is two tcp ports), so every
//	    id in the AST (ast.go) carries its full qualifiers. "not" binds
//	    tighter than "and"/"or", which are left-associative with equal
//	    precedence. It backtracks where the LALR parser looks ahead, and
//	    memoizes the rules it would otherwise parse again, so that it
//	    takes time linear in the length of the expression. Like libpcap's
//	    parser ("memory exhausted"), it refuses nesting deeper than 9996
//	    levels. A syntax error names the column of the first token the
//	    grammar cannot take, and a parenthesis left open or closing
//	    nothing.
//	  - codegen.go and gencode.go generate code the way libpcap's gencode.c
//	    does: each primitive becomes a small graph of basic blocks (loads
//	    and one conditional jump each) joined with and/or/not, visiting the
//	    AST in the order the yacc parser reduces it, so that state changes
//	    (vlan, mpls, pppoes and geneve move later offsets) and scratch
//	    register allocation happen as in libpcap. The block graph and its
//	    "sense" trick for unresolved exits are in block.go.
//	  - layout (block.go) places the blocks as libpcap's icode_to_fcode
//	    does for unoptimized code, inserting "ja" trampolines where a
//	    conditional jump would exceed 255 instructions.
//	  - optimize.go shortens programs longer than the kernel's 4096
//	    instructions, as libpcap's optimizer makes such programs fit
//	    (tcpdump attaches optimized code): value numbering drops
//	    redundant and dead statements, jump threading skips tests whose
//	    outcome the path already decided, tests of the same value in an
//	    "or" or "and" chain are grouped so that the value is loaded once,
//	    identical blocks are merged, and far jumps share their "ja"
//	    trampolines. Unlike libpcap's optimizer it never moves a test past
//	    a load that can fail, so the optimized program accepts exactly the
//	    packets the unoptimized one accepts, truncated ones included. A
//	    chain of 150 "port" terms, 9542 instructions unoptimized, becomes
//	    477 (tcpdump -d: 672); of 1000 ports, 3046.
//
// The result is libpcap's own unoptimized program, instruction for
// instruction (the tests check this against tcpdump -O -ddd), except
// where libpcap's optimizer changes which packet loads are made: tests it
// decides at compile time (comparisons of constants, masks of zero,
// "x * 0") lose their loads here as they do there, so verdicts agree
// even on truncated packets. A load outside the captured bytes rejects
// the packet, so the order of loads matters and is libpcap's.
// (libpcap's optimizer also reorders "or" chains past loads that can
// fail, so that on some truncated packets tcpdump accepts what its own
// unoptimized program rejects: "host 10.0.0.1 or host 10.0.0.2" on an
// IPv4 packet from 10.0.0.2 cut before the destination address. This
// package follows the unoptimized program there.)
//
// A program longer than the kernel's 4096 instructions is optimized
// (optimize.go): the kernel program, which must fit for a live capture
// (Compile fails if it does not), and the program Match runs.
// Program.Instructions keeps libpcap's unoptimized program, which
// "filter -d" prints as tcpdump -O -d does. Programs for stored packets
// may be up to 1048576 instructions long; without Options.Live the
// kernel program may be longer than 4096 instructions, and the kernel
// then refuses it (the capture on the "any" device filters with Match
// instead).
//
// Like pcap_compile, Compile fails with "expression rejects all packets"
// when no packet can be accepted (reject.go decides this with the kind of
// reasoning libpcap's optimizer does), and with libpcap's errors for
// invalid expressions. Constructs this package does not compile, because
// they need information a stored packet lacks (without Options.Live:
// inbound, outbound, ifindex on link types that do not record them) or
// would filter differently from libpcap, fail with an error saying they
// are "not supported". A
// construct is never compiled into something that filters differently
// from libpcap, with two documented exceptions: the kernel program of
// protochain on chains longer than KernelProtochainHeaders, and the
// truncated packets on which libpcap's optimizer reorders tests (above).
//
// # Names and the netmask
//
// Names are resolved when the expression is compiled, as libpcap
// resolves them (resolve.go): "host NAME" (and "src host", "ip host",
// ...) through Options.Resolver (net.DefaultResolver by default:
// /etc/hosts, then DNS), a name standing for all its addresses, IPv4
// and IPv6, or-ed in the resolver's order ("ip host" keeps the IPv4
// ones, "ip6 host" the IPv6 ones); "net NAME" from /etc/networks
// (getnetbyname: the number left-justified, so "loopback 127" is
// 127.0.0.0/8 but "loopback 127.0.0.0" is the single address);
// "ether host NAME" from /etc/ethers (ether_hostton). "gateway" fails as
// in libpcap built with IPv6 support ("'gateway' not supported in this
// configuration"). glibc's getaddrinfo sorts addresses (RFC 3484) where
// Go's resolver may keep another order; verdicts differ only on packets
// cut between the address fields of a name with several addresses.
//
// "ip broadcast" needs the capture interface's netmask (Options.Netmask):
// it matches IPv4 packets whose destination's host part is all zeros or
// all ones. Without one it fails as in libpcap ("netmask not known").
//
// Supported link types: every link type libpcap 1.10.3 filters.
// EN10MB (Ethernet, also Linux loopback), LINUX_SLL, LINUX_SLL2, RAW,
// IPV4, IPV6, NULL, LOOP and ENC; NETANALYZER and
// NETANALYZER_TRANSPARENT (Ethernet after a pseudo-header); 802.11 bare
// (IEEE802_11) and behind a radio header (IEEE802_11_RADIO radiotap,
// PPI, IEEE802_11_RADIO_AVS, PRISM_HEADER); PPP, PPP_SERIAL, PPP_PPPD,
// PPP_ETHER, PPP_BSDOS, C_HDLC, FRELAY, SLIP, SLIP_BSDOS, FDDI, IEEE802
// (Token Ring), ARCNET, ARCNET_LINUX, ATM_RFC1483, ATM_CLIP, SUNATM,
// IP_OVER_FC, IPNET, the JUNIPER_ link types, BACNET_MS_TP, MTP2,
// MTP2_WITH_PHDR, ERF, LTALK, APPLE_IP_OVER_IEEE1394,
// SYMANTEC_FIREWALL, MFR, PFLOG (with its keywords: on, ruleset, rnr,
// srnr, reason, action); and every other LINKTYPE of libpcap's
// "matching" range (104 to 289: DSA tags, USB, Bluetooth, NFLOG, ...),
// where, as in libpcap, only the packet bytes ("link[n]", "len",
// "less", "greater") can be tested and protocol tests fail. Numbers
// outside that range that libpcap does not know either are refused.
// Options.Live only for EN10MB and RAW, the link types of AF_PACKET
// captures.
//
// On 802.11 the code is libpcap's: the radiotap (and PPI) header's
// little-endian length and the 802.11 header's length (24 bytes, 2 more
// for a QoS data frame, rounded up to 4 when radiotap's flags say the
// driver padded it) are computed at the start of the program into
// scratch registers; protocol tests first check for a data frame and
// then an LLC/SNAP header; "wlan host/src/dst" find the address where
// the frame type and the To DS/From DS bits put it; "wlan addr1" to
// "addr4", "ra" and "ta"; "type", "subtype" and "dir" test the frame
// control field (not on PPI, as in libpcap, whose PPI programs also
// require the PPI header's DLT to be 802.11). Such programs turn
// libpcap's optimizer off, and so none of its effects described below
// apply to them. SunATM has the ATM keywords (vpi, vci, lane, oam,
// metac, ...), the MTP2 link types the SS7 ones (fisu, sio, opc, dpc,
// sls and their "h" forms), with libpcap's semantics, including its
// "!=" on them, which tests equality.
//
// Savefile programs are compiled as libpcap compiles them for a savefile:
// DLT_NULL/DLT_LOOP IPv6 accepts the BSD, FreeBSD and Darwin AF_INET6
// values, and the DLT_NULL address family is read in little-endian byte
// order.
//
// As with libpcap on Linux, a live program that does not start with
// "vlan" sees a tagged frame without its tag: "ip" captures VLAN-tagged
// IPv4 too, and the stored frame (tag back in place) then does not match
// the savefile program of "ip". Length tests ("len", "greater") see the
// frame without its tag in the kernel and with it in storage.
//
// Format prints programs in the layouts of tcpdump -d, -dd and -ddd.
package filter
