package filter

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// equivalence compares programs with their optimized forms packet by
// packet: the return values of our interpreter (Match's semantics) and,
// where x/net/bpf's VM takes both programs, of that VM, whose indexed
// loads wrap around in 32 bits as the kernel's do.
type equivalence struct {
	t                 *testing.T
	programs, packets int
	vmRuns            int
	failures          int
}

// check runs orig and opt over pkts (wire length: the captured length
// plus extra) and reports the first packets on which they differ.
func (e *equivalence) check(what string, orig, opt []bpf.RawInstruction, pkts [][]byte, extra int) {
	e.t.Helper()
	e.programs++
	po, pn := newProgram("", orig), newProgram("", opt)
	vo, vn := vmFor(orig), vmFor(opt)
	bad := 0
	for i, p := range pkts {
		e.packets++
		a, _ := po.run(p, uint32(len(p)+extra))
		b, _ := pn.run(p, uint32(len(p)+extra))
		if a != b {
			if bad++; bad <= 3 {
				e.t.Errorf("%s: packet %d (%d bytes %x): returns %d unoptimized, %d optimized\nunoptimized:\n%s\noptimized:\n%s",
					what, i, len(p), p, a, b, Format(orig, StyleD), Format(opt, StyleD))
			}
			continue
		}
		if vo != nil && vn != nil {
			// The VM fails on instructions it lacks (neg), perhaps in
			// only one of the programs.
			a, errA := vo.Run(p)
			b, errB := vn.Run(p)
			if errA == nil && errB == nil {
				e.vmRuns++
			}
			if errA == nil && errB == nil && a != b {
				if bad++; bad <= 3 {
					e.t.Errorf("%s: packet %d (%d bytes %x): x/net/bpf returns %d unoptimized, %d optimized\nunoptimized:\n%s\noptimized:\n%s",
						what, i, len(p), p, a, b, Format(orig, StyleD), Format(opt, StyleD))
				}
			}
		}
	}
	if bad > 0 {
		e.failures++
		if e.failures > 10 {
			e.t.Fatal("too many failures")
		}
	}
}

// vmFor returns x/net/bpf's VM for insns, or nil if it refuses them.
func vmFor(insns []bpf.RawInstruction) *bpf.VM {
	d, ok := bpf.Disassemble(insns)
	if !ok {
		return nil
	}
	vm, err := bpf.NewVM(d)
	if err != nil {
		return nil
	}
	return vm
}

// mustRewrite optimizes a program the optimizer must handle (forward
// jumps only, known instructions) and checks the kernel's rules on the
// result.
func mustRewrite(t *testing.T, what string, insns []bpf.RawInstruction) []bpf.RawInstruction {
	t.Helper()
	opt, ok := rewrite(insns)
	if !ok {
		t.Fatalf("%s: the optimizer refuses the program\n%s", what, Format(insns, StyleD))
	}
	if validate(insns, maxProgramInstructions) == nil {
		if err := validate(opt, maxProgramInstructions); err != nil {
			t.Fatalf("%s: optimized program invalid: %v", what, err)
		}
	}
	return opt
}

// corpusPackets returns the packets of every corpus capture, each also
// cut short at a length chosen by its position.
func corpusPackets(t *testing.T, dir string) (byLink map[uint32][][]byte, all [][]byte) {
	t.Helper()
	byLink = map[uint32][][]byte{}
	files, err := filepath.Glob(filepath.Join(dir, "pcap", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		pkts, err := readCapture(f)
		if err != nil {
			continue // the corpus's invalid files
		}
		for i, p := range pkts {
			byLink[p.linkType] = append(byLink[p.linkType], p.data)
			all = append(all, p.data)
			if len(p.data) > 1 {
				cut := p.data[:(i*7919+len(all))%len(p.data)]
				byLink[p.linkType] = append(byLink[p.linkType], cut)
				all = append(all, cut)
			}
		}
	}
	if len(all) < 5000 {
		t.Fatalf("only %d corpus packets", len(all))
	}
	return byLink, all
}

// TestOptimizeCorpus optimizes the program of every expression of the
// corpus (filters.tsv) that we compile: the savefile program (for
// protochain, the kernel program that unrolls its loop) and, on EN10MB
// and RAW, the live kernel program. Each must return the same value as
// the unoptimized program on every packet of the corpus (of any link
// type, whole and cut short; for protochain also on long chains of
// IPv6 extension headers); live programs run over the packets of their
// link type with the socket metadata of kernelView.
func TestOptimizeCorpus(t *testing.T) {
	dir := requireCorpus(t)
	rows := testkit.MustReadTSV(t, filepath.Join(dir, "filters", "filters.tsv"))
	byLink, all := corpusPackets(t, dir)
	chains := protochainPackets()
	for _, p := range chains[:len(chains):len(chains)] {
		chains = append(chains, p[:len(p)*2/3])
	}
	metas := []liveMeta{{pktType: 0, ifindex: 7}, {pktType: 4, ifindex: 2}}
	e := &equivalence{t: t}
	var optimized, shorter, live int
	seen := map[string]bool{}
	for _, r := range rows {
		lt, ok := supportedDLT(r["dlt"])
		if !ok || seen[r["dlt"]+"\x00"+r["expr"]] {
			continue
		}
		seen[r["dlt"]+"\x00"+r["expr"]] = true
		insns, err := compileNoCheck(r["expr"], lt, false)
		if err != nil {
			continue
		}
		what := fmt.Sprintf("%s %q", r["dlt"], r["expr"])
		pkts := all
		if hasBackwardJump(insns) {
			tree, _ := parse(r["expr"])
			if insns, err = generate(tree, internalLinkType(lt), DefaultSnaplen, genMode{kernel: true}); err != nil {
				t.Fatalf("%s: kernel program: %v", what, err)
			}
			what += " kernel"
			pkts = slices.Concat(all, chains)
		}
		opt := mustRewrite(t, what, insns)
		optimized++
		if len(opt) < len(insns) {
			shorter++
		}
		e.check(what, insns, opt, pkts, 0)
		if lt != LinkTypeEthernet && lt != LinkTypeRaw {
			continue
		}
		tree, _ := parse(r["expr"])
		if tree == nil {
			continue
		}
		kinsns, err := generateLiveUnchecked(tree, internalLinkType(lt), DefaultSnaplen)
		if err != nil || hasBackwardJump(kinsns) {
			continue
		}
		kopt := mustRewrite(t, what+" live", kinsns)
		live++
		for _, m := range metas {
			// The packets as the socket sees them, by their metadata.
			views := map[liveMeta][][]byte{}
			for _, p := range byLink[lt] {
				v, vm := p, m
				if lt == LinkTypeEthernet {
					v, vm = kernelView(p)
					vm.pktType, vm.ifindex = m.pktType, m.ifindex
				}
				views[vm] = append(views[vm], v)
			}
			for vm, pkts := range views {
				e.check(what+" live", withMeta(kinsns, vm), withMeta(kopt, vm), pkts, 0)
			}
		}
	}
	if optimized+live < 1000 {
		t.Errorf("only %d programs optimized", optimized+live)
	}
	t.Logf("corpus: %d programs optimized (%d shorter) and %d live ones; %d runs agree (%d also in x/net/bpf)",
		optimized, shorter, live, e.packets, e.vmRuns)
}

// randomExpr generates filter expressions from primitives whose values
// come from small pools (those of the test packets among them), so that
// tests repeat along paths and hit packets.
type randomExpr struct {
	r *rand.Rand
}

func (g randomExpr) pick(s ...string) string { return s[g.r.IntN(len(s))] }

func (g randomExpr) port() int {
	return []int{80, 443, 53, 22, 40000, 1234, 5353, 67, 68, 2905, 6081, 1, 2, 3}[g.r.IntN(14)]
}

func (g randomExpr) host() string {
	return g.pick("10.0.0.1", "10.0.0.2", "192.168.1.9", "224.0.0.251", "10.0.0.3", "255.255.255.255")
}

func (g randomExpr) primitive() string {
	switch g.r.IntN(20) {
	case 0, 1:
		return fmt.Sprintf("%sport %d", g.pick("", "src ", "dst ", "tcp ", "udp ", "tcp dst ", "udp src ", "sctp "), g.port())
	case 2, 3:
		return fmt.Sprintf("%shost %s", g.pick("", "src ", "dst ", "ip ", "arp "), g.host())
	case 4:
		return fmt.Sprintf("%snet %s", g.pick("", "src ", "dst "), g.pick("10.0.0.0/8", "10.0.0.0/24", "192.168.0.0/16", "10.0.0.0/30", "0.0.0.0/1"))
	case 5, 6:
		return g.pick("tcp", "udp", "icmp", "ip", "ip6", "arp", "rarp", "sctp", "igmp", "icmp6", "ip proto 50", "ip6 proto 17")
	case 7:
		a := g.port()
		return fmt.Sprintf("%sportrange %d-%d", g.pick("", "tcp ", "udp ", "dst "), a, a+g.r.IntN(1000))
	case 8:
		return fmt.Sprintf("%s %s", g.pick("ip6 host", "ip6 src", "ip6 dst", "ip6 net"), g.pick("2001:db8::1", "2001:db8::2", "fe80::1", "2001:db8::/32", "ff02::1"))
	case 9:
		return fmt.Sprintf("%s %d", g.pick("less", "greater", "len >", "len <", "len =", "len !="), []int{40, 54, 60, 64, 74, 100}[g.r.IntN(6)])
	case 10:
		return fmt.Sprintf("ip[%d] & %#x %s %d", g.r.IntN(24), []uint{1, 0xf, 0xf0, 0xff, 0x1f}[g.r.IntN(5)], g.pick("=", "!=", ">", "<", ">="), g.r.IntN(20))
	case 11:
		return g.pick("tcp[13] & 2 != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", "icmp[icmptype] = icmp-echo",
			"udp[8:2] = 0x1234", "ip[6:2] & 0x1fff != 0", "ip6[6] = 58", "tcp[0:2] > 1024", "ip[9] = 6")
	case 12:
		return fmt.Sprintf("ether[%d] %s %d", g.r.IntN(40), g.pick("=", "!=", ">", "& 7 ="), g.r.IntN(256))
	case 13:
		return g.pick("vlan", "vlan 100", "vlan 10", "mpls", "pppoes", "pppoed", "ether broadcast", "ether multicast", "ip multicast",
			"ip broadcast", "ether host 00:11:22:33:44:55", "ether src 66:77:88:99:aa:bb", "stp", "iso", "llc")
	case 14:
		return fmt.Sprintf("ip[2:2] - ((ip[0]&0xf)<<2) %s %d", g.pick(">", "=", "<"), g.r.IntN(60))
	case 15:
		return fmt.Sprintf("ip[%d:%d] %s %d", g.r.IntN(20), []int{1, 2, 4}[g.r.IntN(3)], g.pick("=", ">", "<", "!="), g.r.IntN(100))
	case 16:
		return fmt.Sprintf("(ip[%d] %s %d) %s %d", g.r.IntN(20), g.pick("+", "*", "/", "%", "-", "&", "|", "^", "<<", ">>"), g.r.IntN(9)+1, g.pick("=", ">", "<"), g.r.IntN(40))
	case 17:
		return g.pick("geneve", "geneve and udp", "vlan and ip", "mpls and ip", "pppoes and tcp", "protochain 6")
	}
	// A chain, for the chain grouping.
	n := 2 + g.r.IntN(12)
	parts := make([]string, n)
	for i := range parts {
		switch g.r.IntN(3) {
		case 0:
			parts[i] = fmt.Sprintf("%sport %d", g.pick("", "src ", "tcp ", "udp "), g.port())
		case 1:
			parts[i] = fmt.Sprintf("%shost %s", g.pick("", "dst "), g.host())
		default:
			parts[i] = fmt.Sprintf("net 10.%d.0.0/16", g.r.IntN(4))
		}
	}
	return "(" + strings.Join(parts, g.pick(" or ", " and not ", " or not ")) + ")"
}

func (g randomExpr) expr(depth int) string {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.primitive()
	}
	switch g.r.IntN(4) {
	case 0:
		return "not " + g.expr(depth-1)
	case 1:
		return "(" + g.expr(depth-1) + " and " + g.expr(depth-1) + ")"
	}
	return "(" + g.expr(depth-1) + " or " + g.expr(depth-1) + ")"
}

// linkFrame returns an Ethernet frame's payload with the header of
// link type lt instead (RAW: the payload alone).
func linkFrame(lt uint32, frame []byte) []byte {
	if len(frame) < 14 {
		return frame
	}
	typ, payload := frame[12:14], frame[14:]
	var h []byte
	switch lt {
	case LinkTypeEthernet:
		return frame
	case LinkTypeLinuxSLL:
		h = append([]byte{0, 0, 0, 1, 0, 6}, frame[6:12]...)
		h = append(append(h, 0, 0), typ...)
	case LinkTypeLinuxSLL2:
		h = append(append([]byte{}, typ...), 0, 0, 0, 0, 0, 2, 0, 1, 0, 6)
		h = append(append(h, frame[6:12]...), 0, 0)
	case LinkTypeNull:
		family := byte(2)
		if binary.BigEndian.Uint16(typ) == 0x86dd {
			family = 24
		}
		h = []byte{family, 0, 0, 0}
	}
	return append(h, payload...)
}

// variedPackets returns the test frames in the framing of lt, whole,
// cut short and with bytes changed at random.
func variedPackets(r *rand.Rand, lt uint32) [][]byte {
	var out [][]byte
	for _, f := range wholeTestPackets() {
		p := linkFrame(lt, f)
		out = append(out, p)
		for range 6 {
			out = append(out, p[:r.IntN(len(p)+1)])
		}
		for range 2 {
			q := slices.Clone(p)
			for range 1 + r.IntN(4) {
				q[r.IntN(len(q))] = byte(r.IntN(256))
			}
			out = append(out, q, q[:r.IntN(len(q)+1)])
		}
	}
	return out
}

// TestOptimizeRandomExpressions optimizes the programs of random
// expressions on every link type (and, on EN10MB and RAW, their live
// kernel programs) and requires the same return values as the
// unoptimized programs on test packets, whole, cut short and mangled.
func TestOptimizeRandomExpressions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	g := randomExpr{r}
	n := 400
	if testing.Short() {
		n = 100
	}
	lts := []uint32{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw, LinkTypeNull, LinkTypeIPv4}
	pkts := map[uint32][][]byte{}
	for _, lt := range lts {
		pkts[lt] = variedPackets(r, lt)
	}
	e := &equivalence{t: t}
	var shorter, before, after int
	for range n {
		expr := g.expr(3)
		tree, err := parse(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for _, lt := range lts {
			insns, err := generateUnchecked(tree, internalLinkType(lt), DefaultSnaplen, false)
			if err == nil && hasBackwardJump(insns) {
				insns, err = generate(tree, internalLinkType(lt), DefaultSnaplen, genMode{kernel: true})
			}
			if err == nil {
				what := fmt.Sprintf("%s %q", LinkTypeName(lt), expr)
				opt := mustRewrite(t, what, insns)
				if len(opt) < len(insns) {
					shorter++
				}
				before += len(insns)
				after += len(opt)
				e.check(what, insns, opt, pkts[lt], r.IntN(100))
			}
			if lt != LinkTypeEthernet && lt != LinkTypeRaw {
				continue
			}
			kinsns, err := generateLiveUnchecked(tree, internalLinkType(lt), DefaultSnaplen)
			if err != nil || hasBackwardJump(kinsns) {
				continue
			}
			what := fmt.Sprintf("live %s %q", LinkTypeName(lt), expr)
			kopt := mustRewrite(t, what, kinsns)
			m := liveMeta{vlanPresent: r.IntN(2) == 0, tci: uint16(r.IntN(3) * 50), pktType: uint32(r.IntN(5)), ifindex: uint32(r.IntN(3))}
			e.check(what, withMeta(kinsns, m), withMeta(kopt, m), pkts[lt], 0)
		}
	}
	t.Logf("random expressions: %d programs, %d shorter (%d instructions optimized to %d); %d runs agree (%d also in x/net/bpf)",
		e.programs, shorter, before, after, e.packets, e.vmRuns)
}

// randomProgram builds a random valid forward-only program: loads of
// all kinds (offsets and X values chosen to fall inside and outside
// short packets, and to make indexed offsets wrap around), arithmetic
// with constants and X (divisions by X included), scratch memory, and
// tests of a few values against a few constants, so that the same tests
// come back along paths.
func randomProgram(r *rand.Rand) []bpf.RawInstruction {
	consts := []uint32{0, 1, 2, 6, 8, 17, 0x800, 0xff, 0xfffffff0, 0xffffffff}
	k := func() uint32 { return consts[r.IntN(len(consts))] }
	off := func() uint32 { return []uint32{0, 1, 2, 4, 12, 14, 20, 23, 30}[r.IntN(9)] }
	n := 8 + r.IntN(56)
	out := []bpf.RawInstruction{}
	// Scratch memory is written before anything reads it.
	for m := range uint32(3) {
		out = append(out, bpf.RawInstruction{Op: clsLD | modeIMM, K: k()}, bpf.RawInstruction{Op: clsST, K: m})
	}
	for len(out) < n {
		left := n - len(out) // room for jump targets
		var in bpf.RawInstruction
		switch r.IntN(16) {
		case 0, 1:
			in = bpf.RawInstruction{Op: clsLD | []uint16{szB, szH, szW}[r.IntN(3)] | modeABS, K: off()}
		case 2:
			in = bpf.RawInstruction{Op: clsLD | []uint16{szB, szH, szW}[r.IntN(3)] | modeIND, K: off()}
		case 3:
			in = bpf.RawInstruction{Op: clsLDX | szB | modeMSH, K: off()}
		case 4:
			in = bpf.RawInstruction{Op: []uint16{clsLD | modeIMM, clsLDX | modeIMM}[r.IntN(2)], K: k()}
		case 5:
			in = bpf.RawInstruction{Op: []uint16{clsLD | modeMEM, clsLDX | modeMEM, clsST, clsSTX}[r.IntN(4)], K: uint32(r.IntN(3))}
		case 6:
			ops := []uint16{aluADD, aluSUB, aluMUL, aluDIV, aluMOD, aluAND, aluOR, aluXOR, aluLSH, aluRSH}
			op := ops[r.IntN(len(ops))]
			c := k()
			if op == aluLSH || op == aluRSH {
				c %= 32
			}
			if (op == aluDIV || op == aluMOD) && c == 0 {
				c = 2
			}
			in = bpf.RawInstruction{Op: clsALU | op | srcK, K: c}
		case 7:
			ops := []uint16{aluADD, aluSUB, aluAND, aluOR, aluDIV, aluMOD, aluLSH, aluRSH}
			in = bpf.RawInstruction{Op: clsALU | ops[r.IntN(len(ops))] | srcX}
		case 8:
			in = bpf.RawInstruction{Op: []uint16{clsMISC | miscTAX, clsMISC | miscTXA, clsALU | aluNEG, clsLD | szW | modeLEN}[r.IntN(4)]}
		case 9:
			if left > 2 {
				in = bpf.RawInstruction{Op: clsJMP | jmpJA, K: uint32(r.IntN(min(left-1, 4)))}
			}
		case 10:
			if left > 2 && r.IntN(3) == 0 {
				in = bpf.RawInstruction{Op: clsRET | []uint16{srcK, 0x10}[r.IntN(2)], K: uint32(r.IntN(3))}
			}
		default:
			if left > 2 {
				ops := []uint16{jmpJEQ, jmpJEQ, jmpJGT, jmpJGE, jmpJSET}
				in = bpf.RawInstruction{Op: clsJMP | ops[r.IntN(len(ops))], K: k(),
					Jt: uint8(r.IntN(min(left-1, 8))), Jf: uint8(r.IntN(min(left-1, 8)))}
				if r.IntN(6) == 0 {
					in.Op |= srcX
				}
			}
		}
		if in == (bpf.RawInstruction{}) {
			in = bpf.RawInstruction{Op: clsLD | szB | modeABS, K: off()} // ld [k] has code 0x30, never zero
		}
		out = append(out, in)
	}
	return append(out, bpf.RawInstruction{Op: clsRET | []uint16{srcK, 0x10}[r.IntN(2)], K: uint32(r.IntN(2))})
}

// randomBlockProgram builds a random program shaped like compiled
// filters: blocks that load a value (absolute, indexed by a header
// length, through arithmetic or scratch memory) and test it, jumping to
// later blocks or to an accepting or rejecting return, with offsets and
// constants from small pools so that the same loads and tests recur.
func randomBlockProgram(r *rand.Rand) []bpf.RawInstruction {
	offs := []uint32{12, 14, 20, 23, 26, 30}
	consts := []uint32{0, 1, 6, 17, 0x45, 0x800, 0x86dd, 0x0806}
	c := func() uint32 { return consts[r.IntN(len(consts))] }
	size := func() uint16 { return []uint16{szB, szH, szW}[r.IntN(3)] }
	type blk struct {
		stmts    []bpf.RawInstruction
		op       uint16
		k        uint32
		succ     [2]int // block index, or -1 accept, -2 reject
		position int
	}
	n := 2 + r.IntN(30)
	blocks := make([]blk, n)
	for i := range blocks {
		b := &blocks[i]
		ld := bpf.RawInstruction{Op: clsLD | size() | modeABS, K: offs[r.IntN(len(offs))]}
		switch r.IntN(9) {
		case 0, 1:
			b.stmts = []bpf.RawInstruction{ld}
		case 2:
			b.stmts = []bpf.RawInstruction{ld, {Op: clsALU | aluAND | srcK, K: []uint32{0xf, 0xff00, 0x1fff}[r.IntN(3)]}}
		case 3:
			b.stmts = []bpf.RawInstruction{{Op: clsLDX | szB | modeMSH, K: 14}, {Op: clsLD | size() | modeIND, K: offs[r.IntN(len(offs))]}}
		case 4:
			b.stmts = []bpf.RawInstruction{ld, {Op: clsALU | []uint16{aluSUB, aluADD, aluXOR}[r.IntN(3)] | srcK, K: c()}}
		case 5:
			b.stmts = []bpf.RawInstruction{{Op: clsLDX | modeIMM, K: c()}, ld, {Op: clsALU | []uint16{aluSUB, aluADD, aluAND}[r.IntN(3)] | srcX}}
		case 6:
			b.stmts = []bpf.RawInstruction{ld, {Op: clsST, K: 1}, {Op: clsLD | modeIMM, K: c()}, {Op: clsST, K: 2}, {Op: clsLDX | modeMEM, K: 2}, {Op: clsLD | modeMEM, K: 1}}
		case 7:
			// X = header length + c, then loads from X.
			b.stmts = []bpf.RawInstruction{{Op: clsLD | modeIMM, K: uint32(r.IntN(4))}, {Op: clsLDX | szB | modeMSH, K: 14},
				{Op: clsALU | aluADD | srcX}, {Op: clsMISC | miscTAX}, {Op: clsLD | size() | modeIND, K: offs[r.IntN(len(offs))]}}
			if r.IntN(2) == 0 {
				b.stmts = append(b.stmts, bpf.RawInstruction{Op: clsALU | aluAND | srcK, K: 0xff},
					bpf.RawInstruction{Op: clsLD | size() | modeIND, K: offs[r.IntN(len(offs))]})
			}
		}
		b.op = clsJMP | []uint16{jmpJEQ, jmpJEQ, jmpJEQ, jmpJGT, jmpJGE, jmpJSET}[r.IntN(6)]
		b.k = c()
		if len(b.stmts) > 0 && b.stmts[len(b.stmts)-1].Op == clsLD|modeMEM && r.IntN(2) == 0 {
			b.op |= srcX
		}
		for j := range b.succ {
			switch t := r.IntN(6); {
			case t == 0:
				b.succ[j] = -1
			case t == 1 || i+1 == n:
				b.succ[j] = -2
			default:
				b.succ[j] = i + 1 + r.IntN(min(3, n-i-1))
			}
		}
	}
	pos := 0
	for i := range blocks {
		blocks[i].position = pos
		pos += len(blocks[i].stmts) + 1
	}
	accept, reject := pos, pos+1
	var out []bpf.RawInstruction
	for _, b := range blocks {
		out = append(out, b.stmts...)
		in := bpf.RawInstruction{Op: b.op, K: b.k}
		for j, s := range b.succ {
			target := accept
			switch {
			case s == -2:
				target = reject
			case s >= 0:
				target = blocks[s].position
			}
			off := uint8(target - len(out) - 1)
			if j == 0 {
				in.Jt = off
			} else {
				in.Jf = off
			}
		}
		out = append(out, in)
	}
	acc := bpf.RawInstruction{Op: clsRET | srcK, K: 1}
	if r.IntN(4) == 0 {
		acc = bpf.RawInstruction{Op: clsRET | 0x10} // ret a
	}
	return append(out, acc, bpf.RawInstruction{Op: clsRET | srcK})
}

// TestOptimizeRandomPrograms optimizes random programs (of instructions
// picked at random and of blocks shaped like compiled filters) and
// requires the same return value as the original on random packets, in
// our interpreter and in x/net/bpf's.
func TestOptimizeRandomPrograms(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 6000
	if testing.Short() {
		n = 1500
	}
	pool := []byte{0, 1, 2, 6, 8, 17, 0x45, 0x0f, 0xff, 0x86, 0xdd}
	pkts := make([][]byte, 300)
	for i := range pkts {
		p := make([]byte, r.IntN(48))
		for j := range p {
			p[j] = pool[r.IntN(len(pool))]
		}
		pkts[i] = p
	}
	e := &equivalence{t: t}
	var shorter, before, after int
	for i := range n {
		prog := randomProgram(r)
		if i%2 == 1 {
			prog = randomBlockProgram(r)
		}
		if validate(prog, MaxInstructions) != nil {
			t.Fatalf("invalid random program\n%s", Format(prog, StyleD))
		}
		opt := mustRewrite(t, "random program", prog)
		if len(opt) < len(prog) {
			shorter++
		}
		before += len(prog)
		after += len(opt)
		e.check("random program", prog, opt, pkts, r.IntN(10))
	}
	t.Logf("random programs: %d, %d shorter (%d instructions optimized to %d); %d runs agree (%d also in x/net/bpf)",
		e.programs, shorter, before, after, e.packets, e.vmRuns)
}

// chainExpr joins n terms with "or".
func chainExpr(n int, term func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = term(i)
	}
	return strings.Join(parts, " or ")
}

// longChains are the or-chains of the long-chain tests. tcpdump takes
// minutes to optimize the longest (libpcap's optimizer is not linear),
// so it is not asked about it.
var longChains = []struct {
	name, expr string
	tcpdump    bool
}{
	{"150 ports", chainExpr(150, func(i int) string { return fmt.Sprintf("port %d", i+1) }), true},
	{"200 hosts", chainExpr(200, func(i int) string { return fmt.Sprintf("host 10.0.0.%d", i+1) }), true},
	{"200 tcp/udp ports", chainExpr(200, func(i int) string { return fmt.Sprintf("%s port %d", []string{"tcp", "udp"}[i%2], i+1) }), true},
	{"150 nets", chainExpr(150, func(i int) string { return fmt.Sprintf("net 10.%d.0.0/16", i) }), true},
	{"150 src hosts, tcp dst ports", chainExpr(150, func(i int) string {
		return fmt.Sprintf("src host 10.0.0.%d or tcp dst port %d", i+1, 1000+i)
	}), true},
	{"200 tcp[2:2] values", chainExpr(200, func(i int) string { return fmt.Sprintf("tcp[2:2] = %d", i+1) }), true},
	{"1000 ports", chainExpr(1000, func(i int) string { return fmt.Sprintf("port %d", i+1) }), false},
}

// chainTestFrames builds Ethernet frames that the long chains accept
// and reject: IPv4 and IPv6 TCP, UDP and SCTP with ports in and out of
// the chains, fragments, IPv4 addresses in and out of the host and net
// chains, ARP and RARP.
func chainTestFrames() [][]byte {
	eth := func(typ uint16, payload []byte) []byte {
		f := []byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0, 0x11, 0x22, 0x33, 0x44, 0x55, byte(typ >> 8), byte(typ)}
		return append(f, payload...)
	}
	l4 := func(sport, dport uint16) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h, sport)
		binary.BigEndian.PutUint16(h[2:], dport)
		return h
	}
	ip4 := func(proto byte, src, dst [4]byte, frag uint16, payload []byte) []byte {
		h := []byte{0x45, 0, 0, 0, 0, 0, byte(frag >> 8), byte(frag), 64, proto, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		h = append(append(append(h, src[:]...), dst[:]...), payload...)
		return eth(0x0800, h)
	}
	ip6 := func(proto byte, payload []byte) []byte {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, proto, 64
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		h[8], h[23], h[24], h[39] = 0x20, 1, 0x20, 2
		return eth(0x86dd, append(h, payload...))
	}
	arp := func(typ uint16, spa, tpa [4]byte) []byte {
		p := []byte{0, 1, 8, 0, 6, 4, 0, 1, 0, 0x11, 0x22, 0x33, 0x44, 0x55}
		p = append(append(p, spa[:]...), 0, 0, 0, 0, 0, 0)
		return eth(typ, append(p, tpa[:]...))
	}
	var out [][]byte
	ports := []uint16{1, 2, 75, 149, 150, 151, 999, 1000, 1050, 1099, 1100, 40000}
	for _, proto := range []byte{6, 17, 132, 1} {
		for i, p := range ports {
			q := ports[(i*5+3)%len(ports)]
			out = append(out, ip4(proto, [4]byte{10, 0, 0, 9}, [4]byte{192, 168, 0, 1}, 0, l4(p, 40000)),
				ip4(proto, [4]byte{192, 168, 0, 1}, [4]byte{10, 0, 0, 9}, 0, l4(40001, p)),
				ip6(proto, l4(p, q)), ip6(proto, l4(q, 40000)))
		}
		out = append(out, ip4(proto, [4]byte{10, 0, 0, 9}, [4]byte{192, 168, 0, 1}, 0x0010, l4(1, 1)))
	}
	addrs := [][4]byte{{10, 0, 0, 1}, {10, 0, 0, 100}, {10, 0, 0, 200}, {10, 0, 0, 201}, {10, 5, 1, 1}, {10, 149, 0, 1}, {10, 150, 0, 1}, {192, 168, 0, 1}}
	for i, a := range addrs {
		b := addrs[(i*3+5)%len(addrs)]
		out = append(out, ip4(6, a, [4]byte{172, 16, 0, 1}, 0, l4(40000, 40001)), ip4(17, [4]byte{172, 16, 0, 1}, a, 0, l4(40000, 1040)),
			ip4(6, a, b, 0, l4(5, 1005)), arp(0x0806, a, [4]byte{172, 16, 0, 1}), arp(0x8035, [4]byte{172, 16, 0, 1}, a), arp(0x0806, b, a))
	}
	return out
}

// TestLongChains compiles long or-chains, as users write them to
// capture a list of ports or hosts. libpcap's unoptimized code for them
// is longer than the kernel takes; the optimizer must make the kernel
// program fit (live on EN10MB and RAW, for the "any" device's
// LINUX_SLL2 and for LINUX_SLL too), in no more instructions than
// libpcap's optimizer (tcpdump -d), and accept the same packets as the
// unoptimized program, on every packet cut at every length, and as
// tcpdump -r on whole packets. (libpcap's optimizer reorders tests past
// loads that can fail, so on some cut packets tcpdump differs from its
// own unoptimized program, and from ours.)
func TestLongChains(t *testing.T) {
	tcpdump := ""
	if p, err := exec.LookPath("tcpdump"); err == nil {
		tcpdump = p
	}
	frames := chainTestFrames()
	for _, lt := range []uint32{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		t.Run(LinkTypeName(lt), func(t *testing.T) {
			t.Parallel()
			testLongChains(t, tcpdump, lt, frames)
		})
	}
}

// testLongChains is TestLongChains on link type lt.
func testLongChains(t *testing.T, tcpdump string, lt uint32, frames [][]byte) {
	var whole, cut [][]byte
	for _, f := range frames {
		p := linkFrame(lt, f)
		if lt == LinkTypeRaw && p[0]>>4 != 4 && p[0]>>4 != 6 {
			continue // no ARP without a link header
		}
		whole = append(whole, p)
		for n := range len(p) {
			cut = append(cut, p[:n])
		}
	}
	// tcpdump compiles for LINUX_SLL and LINUX_SLL2 as for EN10MB
	// but for the link header, so it is asked about EN10MB and RAW.
	ask := tcpdump != "" && (lt == LinkTypeEthernet || lt == LinkTypeRaw)
	var pcapPath string
	if ask {
		pcapPath = filepath.Join(t.TempDir(), "chains.pcap")
		writePcapLinkType(t, pcapPath, lt, whole)
	}
	for _, c := range longChains {
		live := lt == LinkTypeEthernet || lt == LinkTypeRaw
		prog, err := Compile(c.expr, Options{LinkType: lt, Live: live})
		if err != nil {
			t.Errorf("%s %s: %v", LinkTypeName(lt), c.name, err)
			continue
		}
		unopt, kernel := prog.Instructions(), prog.KernelInstructions()
		if len(unopt) <= MaxInstructions {
			t.Errorf("%s %s: %d instructions unoptimized, the test wants more than %d", LinkTypeName(lt), c.name, len(unopt), MaxInstructions)
		}
		checkKernelRules(t, LinkTypeName(lt)+" "+c.name, kernel)
		if usesAncillary(kernel) {
			t.Errorf("%s %s: kernel program reads socket metadata", LinkTypeName(lt), c.name)
		}
		theirs := "-"
		var accepted map[int]bool
		if ask && c.tcpdump {
			// tcpdump -d and -r at the same time: libpcap's
			// optimizer takes a while on these.
			var out []byte
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				out, err = exec.Command(tcpdump, "-d", "-y", LinkTypeName(lt), "--", c.expr).Output()
			}()
			accepted = tcpdumpAccepts(t, tcpdump, pcapPath, c.expr)
			<-done
			if err != nil {
				t.Fatalf("tcpdump -d %s %s: %v", LinkTypeName(lt), c.name, err)
			}
			n := strings.Count(string(out), "\n")
			theirs = fmt.Sprint(n)
			if len(kernel) > n && n <= MaxInstructions {
				t.Errorf("%s %s: %d instructions, tcpdump -d %d", LinkTypeName(lt), c.name, len(kernel), n)
			}
		}
		t.Logf("%-10s %-28s unoptimized %5d, optimized %4d, tcpdump -d %s", LinkTypeName(lt), c.name, len(unopt), len(kernel), theirs)

		ref := newProgram("", unopt)
		kp := newProgram("", kernel)
		pkts := whole
		if c.tcpdump { // not the longest: its unoptimized program is slow
			pkts = slices.Concat(whole, cut)
		}
		for _, p := range pkts {
			want, _ := ref.run(p, uint32(len(p)))
			got, _ := kp.run(p, uint32(len(p)))
			if got != want || prog.Match(p, len(p)) != (want != 0) {
				t.Errorf("%s %s: packet %x: kernel program %d, Match %v, unoptimized %d", LinkTypeName(lt), c.name, p, got, prog.Match(p, len(p)), want)
				break
			}
		}
		if !ask || !c.tcpdump {
			continue
		}
		n := 0
		for i, p := range whole {
			if prog.Match(p, len(p)) != accepted[i] {
				t.Errorf("%s %s: packet %d %x: Match %v, tcpdump %v", LinkTypeName(lt), c.name, i, p, !accepted[i], accepted[i])
			}
			if accepted[i] {
				n++
			}
		}
		if n == 0 || n == len(whole) {
			t.Errorf("%s %s: tcpdump accepts %d of %d packets", LinkTypeName(lt), c.name, n, len(whole))
		}
	}
}

// writePcapLinkType writes packets to a pcap file of link type lt,
// packet i with timestamp i seconds.
func writePcapLinkType(t *testing.T, path string, lt uint32, pkts [][]byte) {
	t.Helper()
	b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0}
	b = binary.LittleEndian.AppendUint32(b, lt)
	for i, p := range pkts {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLongProgramStored checks a program that even optimized is longer
// than the kernel takes: it compiles for stored packets, where Match
// runs it, but not for a live capture.
func TestLongProgramStored(t *testing.T) {
	const n = 3000
	expr := chainExpr(n, func(i int) string { return fmt.Sprintf("ether[%d] = %d", i, (i*7)%256) })
	p, err := Compile(expr, Options{LinkType: LinkTypeEthernet})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Instructions()) <= MaxInstructions || len(p.KernelInstructions()) <= MaxInstructions {
		t.Fatalf("%d instructions, %d optimized: the test wants more than %d", len(p.Instructions()), len(p.KernelInstructions()), MaxInstructions)
	}
	pkt := make([]byte, n)
	for i := range pkt {
		pkt[i] = byte(i*7 + 1)
	}
	if p.Match(pkt, len(pkt)) {
		t.Error("Match accepts a packet without any of the bytes")
	}
	pkt[2500] = byte(2500 * 7 % 256)
	if !p.Match(pkt, len(pkt)) {
		t.Error("Match rejects a packet with byte 2500")
	}
	if p.Match(pkt[:2500], len(pkt)) {
		t.Error("Match accepts a packet cut before byte 2500")
	}
	if _, err := Compile(expr, Options{LinkType: LinkTypeEthernet, Live: true}); err == nil ||
		!strings.HasPrefix(err.Error(), "filter: expression too complex for the kernel (") {
		t.Errorf("live: error %v", err)
	}

	// Beyond maxProgramInstructions, an error.
	if testing.Short() {
		return
	}
	big := chainExpr(20000, func(i int) string { return fmt.Sprintf("port %d", i%65535+1) })
	if _, err := Compile(big, Options{LinkType: LinkTypeEthernet}); err == nil ||
		err.Error() != fmt.Sprintf("filter: expression too complex (more than %d instructions)", maxProgramInstructions) {
		t.Errorf("20000 ports: error %v", err)
	}
}
