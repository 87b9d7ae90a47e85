package filter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// Link types are pcap LINKTYPE_ numbers (as stored in pcap files), not
// DLT_ numbers.
const (
	LinkTypeNull      uint32 = 0
	LinkTypeEthernet  uint32 = 1
	LinkTypeRaw       uint32 = 101
	LinkTypeLoop      uint32 = 108
	LinkTypeLinuxSLL  uint32 = 113
	LinkTypeIPv4      uint32 = 228
	LinkTypeIPv6      uint32 = 229
	LinkTypeLinuxSLL2 uint32 = 276
)

// DefaultSnaplen is the value an accepting program returns when
// Options.Snaplen is 0 (libpcap's default snapshot length).
const DefaultSnaplen = 262144

// MaxInstructions is the largest program the Linux kernel accepts
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// maxProgramInstructions bounds the programs Compile makes (8 MiB of
// instructions), beyond any filter a person writes; only the kernel
// program of a live capture must fit in MaxInstructions.
const maxProgramInstructions = 1 << 20

// linkTypeNames are libpcap's DLT names (as "tcpdump -y" takes them) for
// the LINKTYPE numbers, with the numbers this package compiles for.
var linkTypeNames = []struct {
	name string
	lt   uint32
}{
	{"NULL", LinkTypeNull},
	{"EN10MB", LinkTypeEthernet},
	{"EN3MB", 2},
	{"AX25", 3},
	{"PRONET", 4},
	{"CHAOS", 5},
	{"IEEE802", 6},
	{"ARCNET", 7},
	{"SLIP", 8},
	{"PPP", 9},
	{"FDDI", 10},
	{"ATM_RFC1483", 100},
	{"RAW", LinkTypeRaw},
	{"SLIP_BSDOS", 102},
	{"PPP_BSDOS", 103},
	{"C_HDLC", 104},
	{"IEEE802_11", 105},
	{"ATM_CLIP", 106},
	{"FRELAY", 107},
	{"LOOP", LinkTypeLoop},
	{"ENC", 109},
	{"LINUX_SLL", LinkTypeLinuxSLL},
	{"LTALK", 114},
	{"PFLOG", 117},
	{"PRISM_HEADER", 119},
	{"IP_OVER_FC", 122},
	{"SUNATM", 123},
	{"IEEE802_11_RADIO", 127},
	{"ARCNET_LINUX", 129},
	{"APPLE_IP_OVER_IEEE1394", 138},
	{"MTP2_WITH_PHDR", 139},
	{"MTP2", 140},
	{"MTP3", 141},
	{"SCCP", 142},
	{"DOCSIS", 143},
	{"LINUX_IRDA", 144},
	{"IEEE802_11_RADIO_AVS", 163},
	{"PPP_PPPD", 166},
	{"GPRS_LLC", 169},
	{"LINUX_LAPD", 177},
	{"BLUETOOTH_HCI_H4", 187},
	{"USB_LINUX", 189},
	{"PPI", 192},
	{"IEEE802_15_4", 195},
	{"ERF", 197},
	{"BLUETOOTH_HCI_H4_WITH_PHDR", 201},
	{"PPP_WITH_DIR", 204},
	{"IPMB_LINUX", 209},
	{"USB_LINUX_MMAPPED", 220},
	{"CAN_SOCKETCAN", 227},
	{"IPV4", LinkTypeIPv4},
	{"IPV6", LinkTypeIPv6},
	{"DBUS", 231},
	{"DVB_CI", 235},
	{"NETANALYZER", 240},
	{"NETANALYZER_TRANSPARENT", 241},
	{"IPOIB", 242},
	{"NFLOG", 239},
	{"PKTAP", 258},
	{"EBHSCR", 279},
	{"USBPCAP", 249},
	{"NETLINK", 253},
	{"LINUX_SLL2", LinkTypeLinuxSLL2},
	{"VSOCK", 271},
	{"DSA_TAG_BRCM", 281},
	{"DSA_TAG_BRCM_PREPEND", 282},
	{"DSA_TAG_DSA", 284},
	{"DSA_TAG_EDSA", 285},
	{"PPP_SERIAL", 50},
	{"PPP_ETHER", 51},
	{"SYMANTEC_FIREWALL", 99},
	{"JUNIPER_MLPPP", 130},
	{"JUNIPER_MLFR", 131},
	{"JUNIPER_ES", 132},
	{"JUNIPER_GGSN", 133},
	{"JUNIPER_MFR", 134},
	{"JUNIPER_ATM2", 135},
	{"JUNIPER_SERVICES", 136},
	{"JUNIPER_ATM1", 137},
	{"JUNIPER_MONITOR", 164},
	{"BACNET_MS_TP", 165},
	{"JUNIPER_PPPOE", 167},
	{"JUNIPER_PPPOE_ATM", 168},
	{"JUNIPER_ETHER", 178},
	{"JUNIPER_PPP", 179},
	{"JUNIPER_FRELAY", 180},
	{"JUNIPER_CHDLC", 181},
	{"MFR", 182},
	{"JUNIPER_VP", 183},
	{"JUNIPER_ISM", 194},
	{"JUNIPER_ST", 200},
	{"IPNET", 226},
	{"JUNIPER_VS", 232},
	{"JUNIPER_SRX_E2E", 233},
	{"JUNIPER_FIBRECHANNEL", 234},
	{"JUNIPER_ATM_CEMIC", 238},
	{"ERF_ETH", 175},
	{"INFINIBAND", 247},
	{"SDLC", 268},
}

// LinkTypeByName returns the LINKTYPE number for a libpcap DLT name as
// "tcpdump -y" takes it (EN10MB, RAW, NULL, LOOP, LINUX_SLL, ...;
// case-insensitive, an optional "DLT_" prefix is allowed) or for a
// decimal number.
func LinkTypeByName(name string) (uint32, bool) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), true
	}
	u := strings.ToUpper(strings.TrimSpace(name))
	u = strings.TrimPrefix(u, "DLT_")
	u = strings.TrimPrefix(u, "LINKTYPE_")
	if u == "ETHERNET" {
		return LinkTypeEthernet, true
	}
	for _, e := range linkTypeNames {
		if e.name == u {
			return e.lt, true
		}
	}
	return 0, false
}

// LinkTypeName returns libpcap's DLT name for a LINKTYPE number
// ("EN10MB", "RAW", ...), or "LINKTYPE_<n>" if it has none here.
func LinkTypeName(lt uint32) string {
	for _, e := range linkTypeNames {
		if e.lt == lt {
			return e.name
		}
	}
	return fmt.Sprintf("LINKTYPE_%d", lt)
}

// internalLinkType maps a LINKTYPE to the code generator's link type.
func internalLinkType(lt uint32) dlt {
	switch lt {
	case LinkTypeEthernet:
		return dltEN10MB
	case LinkTypeNull:
		return dltNull
	case LinkTypeLoop:
		return dltLoop
	case LinkTypeRaw:
		return dltRaw
	case LinkTypeIPv4:
		return dltIPv4
	case LinkTypeIPv6:
		return dltIPv6
	case LinkTypeLinuxSLL:
		return dltSLL
	case LinkTypeLinuxSLL2:
		return dltSLL2
	}
	return otherLinkType(lt)
}

// Options control compilation.
type Options struct {
	LinkType uint32 // LINKTYPE_ of the packets; required
	Snaplen  uint32 // value returned for an accepted packet; 0 means 262144 (libpcap's default)

	// Live compiles the kernel program for a Linux AF_PACKET socket,
	// where the kernel has removed VLAN tags and direction comes from
	// socket metadata, as libpcap compiles for a capture it opened on an
	// interface: "vlan" tests the tag in the socket metadata (or one
	// still in the frame), "inbound"/"outbound" the packet type and
	// "ifindex" the interface, with the kernel's ancillary loads. It
	// changes only KernelInstructions: Instructions and Match keep the
	// savefile program, which is right for the frames a capture stores
	// (the capture puts the tag back into the frame). Only EN10MB and
	// RAW, the link types of AF_PACKET captures, can be compiled live.
	Live bool

	// Netmask is the IPv4 netmask of the capture's interface (4 bytes,
	// as net.CIDRMask(24, 32)), which "ip broadcast" needs: it matches
	// IPv4 packets whose destination has a host part of all zeros or all
	// ones. nil means not known, and "ip broadcast" then fails as in
	// libpcap ("netmask not known"); so does the all-ones mask, which is
	// libpcap's PCAP_NETMASK_UNKNOWN. tcpdump passes a mask of 0 when it
	// reads a file (net.IPv4Mask(0, 0, 0, 0): destination 0.0.0.0 or
	// 255.255.255.255).
	Netmask net.IPMask

	// Resolver resolves the host names of "host NAME" (and "src host",
	// "dst host", "ip host", ...) when the expression is compiled; nil
	// means net.DefaultResolver (/etc/hosts, then DNS). A name stands
	// for all its addresses, IPv4 and IPv6, as in libpcap. Network names
	// ("net NAME") come from /etc/networks and Ethernet host names
	// ("ether host NAME") from /etc/ethers, as libpcap's getnetbyname and
	// ether_hostton read them.
	Resolver Resolver
}

// Program is a compiled filter. It holds two programs, identical unless
// the expression uses protochain or, compiled with Options.Live, a
// construct that a live capture compiles differently:
//
//   - the savefile program (Instructions), what libpcap compiles to
//     filter a capture file: Match runs it over stored packets. It may
//     jump backward (protochain's loop), so it is not for the kernel.
//   - the kernel program (KernelInstructions), for SO_ATTACH_FILTER:
//     forward jumps only; with Options.Live it is libpcap's program for
//     a live capture, at most MaxInstructions long.
//
// Both are libpcap's unoptimized code, but a program longer than
// MaxInstructions is optimized (see optimize): the kernel program, and
// the one Match runs; Instructions stays libpcap's. Programs are at most
// maxProgramInstructions long.
type Program struct {
	expr   string
	insns  []bpf.RawInstruction // savefile program; nil if the expression has none
	kinsns []bpf.RawInstruction // kernel program
	code   []insn
	back   int // backward jumps in code (they bound Match's run time)
}

// insn is the interpreter's form of an instruction.
type insn struct {
	op     uint16
	jt, jf uint8
	k      uint32
}

// Compile compiles a pcap-filter(7) expression for the given link type
// with libpcap 1.10.3's semantics. An empty (or all-whitespace)
// expression accepts every packet. Host names are looked up without a
// deadline beyond the resolver's own; CompileContext bounds them.
func Compile(expr string, opts Options) (*Program, error) {
	return CompileContext(context.Background(), expr, opts)
}

// CompileContext is Compile with a context for the host name lookups
// (Options.Resolver): when ctx is done, a name not yet resolved fails
// with "unknown host" and an error wrapping the resolver's, which
// errors.Is matches against context.Canceled or
// context.DeadlineExceeded.
func CompileContext(ctx context.Context, expr string, opts Options) (*Program, error) {
	lt := internalLinkType(opts.LinkType)
	if lt == dltNone {
		return nil, fmt.Errorf("filter: filtering on link type %s is not supported", LinkTypeName(opts.LinkType))
	}
	if opts.Live && lt != dltEN10MB && lt != dltRaw {
		return nil, fmt.Errorf("filter: compiling for a live capture on link type %s is not supported (only EN10MB and RAW)", LinkTypeName(opts.LinkType))
	}
	snaplen := opts.Snaplen
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	var netmask uint32
	hasNetmask := opts.Netmask != nil
	if hasNetmask {
		m := opts.Netmask
		if len(m) != net.IPv4len {
			return nil, fmt.Errorf("filter: netmask %s is not an IPv4 netmask", opts.Netmask)
		}
		netmask = binary.BigEndian.Uint32(m)
	}
	tree, err := parse(expr)
	if err != nil {
		return nil, err
	}
	if tree == nil {
		return newProgram(expr, []bpf.RawInstruction{{Op: clsRET | srcK, K: snaplen}}), nil
	}

	// The savefile program. With Live, "rejects all packets" is decided
	// on the live program, as libpcap decides it on what it attaches,
	// and an expression only a live capture can evaluate has none.
	names := newNames(ctx, opts.Resolver)
	base := genMode{names: names, netmask: netmask, hasNetmask: hasNetmask}
	mode := base
	mode.checkRejects = !opts.Live
	insns, err := generate(tree, lt, snaplen, mode)
	if err != nil {
		var ce *compileError
		if !opts.Live || !errors.As(err, &ce) || !ce.liveOnly {
			return nil, err
		}
		insns = nil
	}
	if insns != nil {
		if err := validateSavefile(insns); err != nil {
			return nil, err
		}
	}
	// Programs longer than the kernel takes, as libpcap emits them
	// unoptimized, are optimized (as libpcap's optimizer makes what
	// tcpdump attaches fit): the kernel program so that it fits, the
	// savefile program so that Match runs fewer instructions. Instructions
	// keeps libpcap's unoptimized code, what tcpdump -O -d prints.
	run := insns
	if len(insns) > MaxInstructions {
		if opt, ok := optimize(insns); ok {
			run = opt
		}
	}
	kinsns := run
	if opts.Live || usesProtochain(tree) {
		mode := base
		mode.live, mode.kernel, mode.checkRejects = opts.Live, true, opts.Live
		kinsns, err = generate(tree, lt, snaplen, mode)
		if err != nil {
			return nil, err
		}
		switch {
		case len(kinsns) <= MaxInstructions:
		case slices.Equal(kinsns, insns):
			kinsns = run
		default:
			if opt, ok := optimize(kinsns); ok {
				kinsns = opt
			}
		}
	}
	if len(kinsns) > MaxInstructions && opts.Live {
		return nil, fmt.Errorf("filter: expression too complex for the kernel (%d instructions once optimized, it accepts at most %d)", len(kinsns), MaxInstructions)
	}
	if err := validate(kinsns, maxProgramInstructions); err != nil {
		return nil, err
	}
	p := newProgram(expr, run)
	p.insns, p.kinsns = insns, kinsns
	return p, nil
}

// newProgram returns a program whose savefile and kernel programs are
// both insns, the program Match runs (nil: no savefile program, Match
// rejects everything).
func newProgram(expr string, insns []bpf.RawInstruction) *Program {
	p := &Program{expr: expr, insns: insns, kinsns: insns, code: make([]insn, len(insns))}
	for i, in := range insns {
		p.code[i] = insn{op: in.Op, jt: in.Jt, jf: in.Jf, k: in.K}
		if in.Op == clsJMP|jmpJA && int32(in.K) < 0 {
			p.back++
		}
	}
	return p
}

// genMode selects what generate compiles for.
type genMode struct {
	live         bool // a live Linux capture (gen.live)
	kernel       bool // forward jumps only (gen.kernel)
	checkRejects bool // fail when the program rejects every packet

	names      *names // host name lookups, shared by the programs of one Compile
	netmask    uint32 // for "ip broadcast", if hasNetmask
	hasNetmask bool
}

// generate runs the code generator and the rejects-everything check.
func generate(tree node, lt dlt, snaplen uint32, mode genMode) ([]bpf.RawInstruction, error) {
	g := newGen(lt, snaplen)
	g.live, g.kernel = mode.live, mode.kernel
	g.names, g.netmask, g.hasNetmask = mode.names, mode.netmask, mode.hasNetmask
	// libpcap does not optimize programs that use geneve (their
	// offsets are computed at run time) or protochain (a loop), so none
	// of its optimizer's effects apply to them.
	g.emulateOpt = !usesGeneve(tree) && !usesProtochain(tree)
	insns, err := g.run(tree)
	if err != nil {
		return nil, err
	}
	if g.noOptimize && g.emulateOpt {
		// The code computing 802.11 header lengths turns libpcap's
		// optimizer off: none of its effects apply.
		g = newGen(lt, snaplen)
		g.live, g.kernel = mode.live, mode.kernel
		g.names, g.netmask, g.hasNetmask = mode.names, mode.netmask, mode.hasNetmask
		g.emulateOpt = false
		if insns, err = g.run(tree); err != nil {
			return nil, err
		}
	}
	if mode.checkRejects && !g.noOptimize && rejectsAll(insns) {
		return nil, ErrRejectsAll
	}
	return insns, nil
}

// usesGeneve reports whether the expression contains a geneve
// primitive.
func usesGeneve(n node) bool {
	return anyNode(n, func(n node) bool {
		o, ok := n.(otherNode)
		return ok && o.kind == oGeneve
	})
}

// usesProtochain reports whether the expression contains protochain.
func usesProtochain(n node) bool {
	return anyNode(n, func(n node) bool {
		id, ok := n.(idNode)
		return ok && id.q.addr == aProtochain
	})
}

// anyNode reports whether f holds for a primitive of the expression.
func anyNode(n node, f func(node) bool) bool {
	switch n := n.(type) {
	case andNode:
		return anyNode(n.l, f) || anyNode(n.r, f)
	case orNode:
		return anyNode(n.l, f) || anyNode(n.r, f)
	case notNode:
		return anyNode(n.x, f)
	}
	return f(n)
}

// generateUnchecked returns the savefile program as libpcap emits it
// with its optimizer off, compiled as tcpdump compiles for -r and -y
// (with a netmask of 0).
func generateUnchecked(tree node, lt dlt, snaplen uint32, deadHandle bool) ([]bpf.RawInstruction, error) {
	g := newGen(lt, snaplen)
	g.deadHandle = deadHandle
	g.emulateOpt = false
	g.hasNetmask = true // netmask 0, as tcpdump passes it
	return g.run(tree)
}

// generateLiveUnchecked returns the program for a live capture as
// libpcap emits it with its optimizer off (protochain as its loop),
// with a netmask of 0 (what tcpdump passes when it cannot find the
// interface's).
func generateLiveUnchecked(tree node, lt dlt, snaplen uint32) ([]bpf.RawInstruction, error) {
	g := newGen(lt, snaplen)
	g.live, g.deadHandle = true, true
	g.emulateOpt = false
	g.hasNetmask = true // netmask 0, as tcpdump passes it
	return g.run(tree)
}

// run generates code for tree, turning a compileError panic into an
// error.
func (g *gen) run(tree node) (insns []bpf.RawInstruction, err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(*compileError)
			if !ok {
				panic(r)
			}
			insns, err = nil, ce
		}
	}()
	root := g.finish(g.node(tree))
	return layout(root)
}

// validateSavefile checks a savefile program for the interpreter: known
// opcodes, jumps (backward ones too) that stay inside the program and a
// return at the end. The memory rules are checked on the kernel program,
// which makes the same accesses.
func validateSavefile(insns []bpf.RawInstruction) error {
	n := len(insns)
	if n == 0 || n > maxProgramInstructions {
		return fmt.Errorf("filter: invalid program length %d", n)
	}
	for i, in := range insns {
		if in.Op == clsJMP|jmpJA && int32(in.K) < 0 {
			if i+1+int(int32(in.K)) < 0 {
				return fmt.Errorf("filter: internal error: jump out of range at %d", i)
			}
			continue
		}
		if err := checkInsn(insns, i); err != nil {
			return err
		}
	}
	if last := insns[n-1].Op & 0x07; last != clsRET {
		return errors.New("filter: internal error: program does not end with a return")
	}
	return nil
}

// validate checks the kernel's rules for classic BPF, but for a length
// limit of maxLen: known opcodes, forward jumps that stay inside the
// program, a return at the end, valid scratch memory indexes, no
// division by a constant zero, and scratch memory written before it is
// read.
func validate(insns []bpf.RawInstruction, maxLen int) error {
	n := len(insns)
	if n == 0 || n > maxLen {
		return fmt.Errorf("filter: invalid program length %d", n)
	}
	for i := range insns {
		if err := checkInsn(insns, i); err != nil {
			return err
		}
	}
	if last := insns[n-1].Op & 0x07; last != clsRET {
		return errors.New("filter: internal error: program does not end with a return")
	}
	return checkMemInit(insns)
}

// checkInsn checks instruction i for validate (jumps forward only).
func checkInsn(insns []bpf.RawInstruction, i int) error {
	n := len(insns)
	in := insns[i]
	switch in.Op & 0x07 {
	case clsLD, clsLDX:
		if in.Op&0xe0 == modeMEM && in.K >= memWords {
			return fmt.Errorf("filter: internal error: bad scratch index at %d", i)
		}
	case clsST, clsSTX:
		if in.K >= memWords {
			return fmt.Errorf("filter: internal error: bad scratch index at %d", i)
		}
	case clsALU:
		op := in.Op & 0xf0
		if in.Op&srcX == 0 && (op == aluDIV || op == aluMOD) && in.K == 0 {
			return fmt.Errorf("filter: internal error: division by zero at %d", i)
		}
	case clsJMP:
		if in.Op&0xf0 == jmpJA {
			if uint64(in.K) >= uint64(n-i-1) {
				return fmt.Errorf("filter: internal error: jump out of range at %d", i)
			}
		} else if i+1+int(in.Jt) >= n || i+1+int(in.Jf) >= n {
			return fmt.Errorf("filter: internal error: jump out of range at %d", i)
		}
	}
	return nil
}

// checkMemInit applies the Linux kernel's rule that scratch memory must
// be written on every path before it is read (libpcap leaves such reads
// undefined). Only geneve followed by tests on a path that bypasses it
// produces them.
func checkMemInit(insns []bpf.RawInstruction) error {
	masks := make([]uint16, len(insns))
	for i := range masks {
		masks[i] = 0xffff
	}
	valid := uint16(0)
	for pc, in := range insns {
		valid &= masks[pc]
		switch {
		case in.Op == clsST || in.Op == clsSTX:
			valid |= 1 << (in.K & (memWords - 1))
		case in.Op == clsLD|modeMEM || in.Op == clsLDX|modeMEM:
			if valid&(1<<(in.K&(memWords-1))) == 0 {
				return errors.New("filter: this use of \"geneve\" or \"pppoes\" is not supported (libpcap's program would read offsets it never set: tests outside the geneve branch, or pppoes after a radio header)")
			}
		case in.Op == clsJMP|jmpJA:
			masks[pc+1+int(in.K)] &= valid
			valid = 0xffff
		case in.Op&0x07 == clsJMP:
			masks[pc+1+int(in.Jt)] &= valid
			masks[pc+1+int(in.Jf)] &= valid
			valid = 0xffff
		case in.Op&0x07 == clsRET:
			// Nothing falls through a return.
			valid = 0xffff
		}
	}
	return nil
}

// Instructions returns the savefile program, the one Match runs: what
// libpcap compiles to filter stored packets (pcap_offline_filter), as
// libpcap emits it with its optimizer off (tcpdump -O -d). Match runs an
// optimized equivalent of a program longer than MaxInstructions. It
// jumps backward where the expression uses protochain, so attach
// KernelInstructions to a socket instead. It is nil when the expression
// has no savefile form (compiled with Options.Live, it tests socket
// metadata with inbound, outbound or ifindex).
func (p *Program) Instructions() []bpf.RawInstruction {
	if p.insns == nil {
		return nil
	}
	out := make([]bpf.RawInstruction, len(p.insns))
	copy(out, p.insns)
	return out
}

// KernelInstructions returns the program to attach to a Linux socket
// with SO_ATTACH_FILTER: forward jumps only. Compiled with Options.Live
// it is libpcap's program for a live capture (VLAN tags, direction and
// interface from socket metadata, through ancillary loads only the
// kernel runs), at most MaxInstructions long; otherwise it filters like
// Instructions. Either way protochain's loop is unrolled
// (KernelProtochainHeaders). Where libpcap's unoptimized code is longer
// than MaxInstructions, this program is optimized: it accepts the same
// packets in fewer instructions. Without Options.Live it may still be
// longer than MaxInstructions (Compile fails for a live capture); the
// kernel then refuses it, and packets can be filtered with Match.
func (p *Program) KernelInstructions() []bpf.RawInstruction {
	out := make([]bpf.RawInstruction, len(p.kinsns))
	copy(out, p.kinsns)
	return out
}

// String returns the expression the program was compiled from.
func (p *Program) String() string { return p.expr }

// Match runs the savefile program over one packet: data is the captured
// bytes, wireLen the original length on the wire (what "len", "less" and
// "greater" test, as in libpcap's pcap_offline_filter). A load outside
// data rejects the packet. A program without a savefile form
// (Instructions is nil) rejects every packet. Match does not allocate.
//
// protochain's loop runs as in libpcap, with a bound: each run of the
// loop on a packet of n bytes either ends within 2n+2 iterations or
// never ends (libpcap's loop, following AH headers, can come back to a
// header it has seen); past the bound Match rejects the packet.
func (p *Program) Match(data []byte, wireLen int) bool {
	v, _ := p.run(data, uint32(wireLen))
	return v != 0
}

// run is the classic BPF interpreter (libpcap's bpf_filter semantics).
// It returns the program's result and how many backward jumps it took.
//
// A backward jump only comes from protochain's loop, whose state at the
// top of the loop is A (the protocol) and X (the offset of its header).
// An iteration is chosen by A (extension header or AH) and computes the
// next A and X from X alone, loading from X + offset, so after more
// than 2 * len(data) + 2 iterations some (choice, X) has repeated and the
// loop cycles forever. Allowing that many backward jumps for each
// backward jump instruction (each loop runs at most once) is therefore
// exact: a run that exceeds it never ends in libpcap.
func (p *Program) run(data []byte, wireLen uint32) (uint32, int) {
	var a, x uint32
	var mem [memWords]uint32
	code := p.code
	buflen := uint64(len(data))
	budget := p.back * (2*len(data) + 2)
	taken := 0
	for pc := 0; pc < len(code); pc++ {
		in := &code[pc]
		switch in.op {
		case clsRET | srcK:
			return in.k, taken
		case clsRET | 0x10: // ret A
			return a, taken
		case clsLD | szW | modeABS:
			k := uint64(in.k)
			if k+4 > buflen {
				return 0, taken
			}
			a = binary.BigEndian.Uint32(data[k:])
		case clsLD | szH | modeABS:
			k := uint64(in.k)
			if k+2 > buflen {
				return 0, taken
			}
			a = uint32(binary.BigEndian.Uint16(data[k:]))
		case clsLD | szB | modeABS:
			k := uint64(in.k)
			if k >= buflen {
				return 0, taken
			}
			a = uint32(data[k])
		case clsLD | szW | modeIND:
			k := uint64(x) + uint64(in.k)
			if k+4 > buflen {
				return 0, taken
			}
			a = binary.BigEndian.Uint32(data[k:])
		case clsLD | szH | modeIND:
			k := uint64(x) + uint64(in.k)
			if k+2 > buflen {
				return 0, taken
			}
			a = uint32(binary.BigEndian.Uint16(data[k:]))
		case clsLD | szB | modeIND:
			k := uint64(x) + uint64(in.k)
			if k >= buflen {
				return 0, taken
			}
			a = uint32(data[k])
		case clsLD | szW | modeLEN:
			a = wireLen
		case clsLDX | szW | modeLEN:
			x = wireLen
		case clsLD | modeIMM:
			a = in.k
		case clsLDX | modeIMM:
			x = in.k
		case clsLD | modeMEM:
			a = mem[in.k&(memWords-1)]
		case clsLDX | modeMEM:
			x = mem[in.k&(memWords-1)]
		case clsLDX | szB | modeMSH:
			k := uint64(in.k)
			if k >= buflen {
				return 0, taken
			}
			x = uint32(data[k]&0xf) << 2
		case clsST:
			mem[in.k&(memWords-1)] = a
		case clsSTX:
			mem[in.k&(memWords-1)] = x
		case clsJMP | jmpJA:
			if int32(in.k) < 0 {
				if taken >= budget {
					return 0, taken
				}
				taken++
			}
			pc += int(int32(in.k))
		case clsJMP | jmpJEQ | srcK:
			if a == in.k {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJGT | srcK:
			if a > in.k {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJGE | srcK:
			if a >= in.k {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJSET | srcK:
			if a&in.k != 0 {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJEQ | srcX:
			if a == x {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJGT | srcX:
			if a > x {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJGE | srcX:
			if a >= x {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsJMP | jmpJSET | srcX:
			if a&x != 0 {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		case clsALU | aluADD | srcX:
			a += x
		case clsALU | aluSUB | srcX:
			a -= x
		case clsALU | aluMUL | srcX:
			a *= x
		case clsALU | aluDIV | srcX:
			if x == 0 {
				return 0, taken
			}
			a /= x
		case clsALU | aluMOD | srcX:
			if x == 0 {
				return 0, taken
			}
			a %= x
		case clsALU | aluAND | srcX:
			a &= x
		case clsALU | aluOR | srcX:
			a |= x
		case clsALU | aluXOR | srcX:
			a ^= x
		case clsALU | aluLSH | srcX:
			if x < 32 {
				a <<= x
			} else {
				a = 0
			}
		case clsALU | aluRSH | srcX:
			if x < 32 {
				a >>= x
			} else {
				a = 0
			}
		case clsALU | aluADD | srcK:
			a += in.k
		case clsALU | aluSUB | srcK:
			a -= in.k
		case clsALU | aluMUL | srcK:
			a *= in.k
		case clsALU | aluDIV | srcK:
			if in.k == 0 {
				return 0, taken
			}
			a /= in.k
		case clsALU | aluMOD | srcK:
			if in.k == 0 {
				return 0, taken
			}
			a %= in.k
		case clsALU | aluAND | srcK:
			a &= in.k
		case clsALU | aluOR | srcK:
			a |= in.k
		case clsALU | aluXOR | srcK:
			a ^= in.k
		case clsALU | aluLSH | srcK:
			a <<= in.k & 31
		case clsALU | aluRSH | srcK:
			a >>= in.k & 31
		case clsALU | aluNEG:
			a = -a
		case clsMISC | miscTAX:
			x = a
		case clsMISC | miscTXA:
			a = x
		default:
			return 0, taken
		}
	}
	return 0, taken
}
