package filter

import (
	"encoding/binary"
	"maps"
	"slices"

	"golang.org/x/net/bpf"
)

// optimize rewrites a forward-only classic BPF program into a shorter
// one that returns the same value for every packet, on truncated packets
// too: a load outside the packet still rejects it exactly when it did.
// It makes programs that libpcap's optimizer fits in the kernel's 4096
// instructions fit here too (long "port", "host" and "net" or-chains),
// in the spirit of libpcap's optimize.c, but only with transformations
// that keep the order of the loads that can fail:
//
//   - value numbering: every register holds a value number, equal for
//     equal computations (the same load, the same operation on the same
//     values, "add #0" and the like being their operand), so that a
//     statement that puts into a register the value already there is
//     dropped, as are statements whose result is never used, provided
//     they cannot fail (a load already made on every path to them, or
//     within the bytes such a load proved present); a test of "A - c"
//     against k becomes one of A against k + c (also for "+", "^", and
//     "&" before "jset"), a test against X holding a constant one
//     against the constant, and loads from X set to X + c load from X at
//     offsets c further;
//   - jump threading: along each edge the analysis knows the outcome of
//     the tests taken (and ranges, excluded values and known bits of the
//     values tested); an edge into a block whose test is then decided,
//     and whose statements cannot fail and write nothing used afterwards,
//     goes straight to the block's decided successor;
//   - chain grouping: in a chain of tests that all leave for the same
//     block on success (an "or") or on failure (an "and"), the tests
//     whose loads cannot fail (they were made before the chain) are
//     reordered so that tests of the same value follow each other and
//     the value is loaded once ("port 1 or port 2 ..." tests every
//     source port, then every destination port, as libpcap does);
//   - merging identical blocks, removing unreachable ones, and a layout
//     in which a conditional jump too far for its 8-bit offset goes
//     through an unconditional jump that other far jumps to the same
//     place share.
//
// Programs with backward jumps (protochain's loop) or instructions the
// interpreter does not know are returned unchanged (ok false), as are
// programs the optimizer does not make shorter.
func optimize(insns []bpf.RawInstruction) (out []bpf.RawInstruction, ok bool) {
	defer func() {
		// A failure of the optimizer leaves the program as it was.
		if r := recover(); r != nil {
			out, ok = nil, false
		}
	}()
	out, ok = rewrite(insns)
	if !ok || len(out) >= len(insns) {
		return nil, false
	}
	return out, true
}

// rewrite returns the optimizer's program for insns, shorter or not, if
// it can optimize insns.
func rewrite(insns []bpf.RawInstruction) ([]bpf.RawInstruction, bool) {
	if len(insns) > maxOptimizeInput {
		return nil, false
	}
	o := &optimizer{}
	if !o.build(insns) {
		return nil, false
	}
	for range maxOptimizeRounds {
		changed := o.forward()
		if o.cleanup() {
			changed = true
		}
		if !changed {
			break
		}
	}
	out := o.emit()
	if out == nil {
		return nil, false
	}
	// The kernel's rules, but for scratch memory read before written if
	// insns reads it so too (geneve in a savefile program).
	for i := range out {
		if checkInsn(out, i) != nil {
			return nil, false
		}
	}
	if out[len(out)-1].Op&0x07 != clsRET || (checkMemInit(out) != nil && checkMemInit(insns) == nil) {
		return nil, false
	}
	return out, true
}

// Bounds on the optimizer's work. They only make it give up earlier.
const (
	maxOptimizeInput  = 1 << 20 // instructions
	maxOptimizeRounds = 12
	maxThreadSteps    = 1 << 22 // blocks looked through per pass
	maxChain          = 1 << 14 // tests in a chain considered for grouping
	maxFacts          = 64      // values with recorded facts on an edge
	maxNeq            = 16      // excluded constants recorded per value
	maxAnySet         = 4       // "jset" masks recorded per value
	maxLoadFacts      = 64      // loads recorded as known to succeed
	maxMaterialize    = 6       // statements to recompute a value
)

// Analysis registers: A, X and the scratch memory words.
const (
	rA   = 0
	rX   = 1
	rM0  = 2
	nReg = rM0 + memWords
)

// oblock is a basic block of the program being optimized: statements,
// then a conditional jump (succ[0] if true, succ[1] if false), a return,
// or an unconditional jump to succ[0] (op clsJMP|jmpJA).
type oblock struct {
	stmts []bpf.RawInstruction
	op    uint16
	k     uint32
	succ  [2]*oblock

	// Per pass.
	order   int       // position in the topological order
	npred   int       // incoming edges
	liveIn  uint32    // registers read before written from the entry on
	in      *ostate   // meet of the incoming edges' states
	chained bool      // already examined as part of a chain
	tramps  []*oblock // layout: unconditional jumps placed after the block
}

func (b *oblock) isCond() bool { return b.op&0x07 == clsJMP && b.op != clsJMP|jmpJA }
func (b *oblock) isGoto() bool { return b.op == clsJMP|jmpJA }

// nsucc is the number of successor edges.
func (b *oblock) nsucc() int {
	switch {
	case b.isCond():
		return 2
	case b.isGoto():
		return 1
	}
	return 0
}

type optimizer struct {
	root  *oblock
	order []*oblock // reachable blocks, topological
	vt    *vtable
	steps int // threading budget used in this pass
}

// build splits insns into basic blocks. It fails on backward jumps,
// jumps outside the program, code that runs off its end and unknown
// instructions.
func (o *optimizer) build(insns []bpf.RawInstruction) bool {
	n := len(insns)
	if n == 0 {
		return false
	}
	leader := make([]bool, n+1)
	leader[0] = true
	for i, in := range insns {
		switch {
		case in.Op == clsJMP|jmpJA:
			if int32(in.K) < 0 || uint64(i)+1+uint64(in.K) >= uint64(n) {
				return false
			}
			leader[i+1+int(in.K)], leader[i+1] = true, true
		case in.Op&0x07 == clsJMP:
			if !knownJump(in.Op) || i+1+int(in.Jt) >= n || i+1+int(in.Jf) >= n {
				return false
			}
			leader[i+1+int(in.Jt)], leader[i+1+int(in.Jf)], leader[i+1] = true, true, true
		case in.Op == clsRET|srcK || in.Op == clsRET|0x10:
			leader[i+1] = true
		case !knownStmt(in.Op):
			return false
		}
	}
	at := make([]*oblock, n)
	for i := 0; i < n; i++ {
		if leader[i] {
			at[i] = &oblock{}
		}
	}
	var cur *oblock
	for i, in := range insns {
		if at[i] != nil {
			if cur != nil { // falls into the next block
				cur.op, cur.succ[0] = clsJMP|jmpJA, at[i]
			}
			cur = at[i]
		}
		switch {
		case in.Op == clsJMP|jmpJA:
			cur.op, cur.succ[0] = in.Op, at[i+1+int(in.K)]
			cur = nil
		case in.Op&0x07 == clsJMP:
			cur.op, cur.k = in.Op, in.K
			cur.succ = [2]*oblock{at[i+1+int(in.Jt)], at[i+1+int(in.Jf)]}
			cur = nil
		case in.Op&0x07 == clsRET:
			cur.op, cur.k = in.Op, in.K
			cur = nil
		default:
			cur.stmts = append(cur.stmts, bpf.RawInstruction{Op: in.Op, K: in.K})
		}
	}
	if cur != nil {
		return false // runs off the end
	}
	o.root = at[0]
	o.renumber()
	return true
}

func knownJump(op uint16) bool {
	switch op &^ srcX {
	case clsJMP | jmpJEQ, clsJMP | jmpJGT, clsJMP | jmpJGE, clsJMP | jmpJSET:
		return true
	}
	return false
}

// knownStmt reports whether op is a non-jump instruction the
// interpreter (Program.run) knows.
func knownStmt(op uint16) bool {
	switch op {
	case clsLD | szW | modeABS, clsLD | szH | modeABS, clsLD | szB | modeABS,
		clsLD | szW | modeIND, clsLD | szH | modeIND, clsLD | szB | modeIND,
		clsLD | szW | modeLEN, clsLDX | szW | modeLEN, clsLD | modeIMM, clsLDX | modeIMM,
		clsLD | modeMEM, clsLDX | modeMEM, clsLDX | szB | modeMSH, clsST, clsSTX,
		clsMISC | miscTAX, clsMISC | miscTXA, clsALU | aluNEG:
		return true
	}
	if op&0x07 == clsALU && op&^(0xf0|srcX) == clsALU {
		switch op & 0xf0 {
		case aluADD, aluSUB, aluMUL, aluDIV, aluMOD, aluAND, aluOR, aluXOR, aluLSH, aluRSH:
			return true
		}
	}
	return false
}

// renumber computes the reachable blocks in reverse post-order of a
// depth-first walk that visits the false branch first, as libpcap lays
// out code: a block is followed by its true branch when nothing else
// placed it earlier. It also counts predecessors.
func (o *optimizer) renumber() {
	var post []*oblock
	seen := map[*oblock]bool{o.root: true}
	type frame struct {
		b    *oblock
		next int
	}
	stack := []frame{{o.root, 0}}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		if f.next < f.b.nsucc() {
			// False branch (succ[1]) first.
			s := f.b.succ[f.b.nsucc()-1-f.next]
			f.next++
			if !seen[s] {
				seen[s] = true
				stack = append(stack, frame{s, 0})
			}
			continue
		}
		post = append(post, f.b)
		stack = stack[:len(stack)-1]
	}
	slices.Reverse(post)
	o.order = post
	for i, b := range post {
		b.order, b.npred, b.in, b.chained = i, 0, nil, false
	}
	for _, b := range post {
		for i := range b.nsucc() {
			b.succ[i].npred++
		}
	}
}

// useDef returns the registers an instruction reads and writes.
func useDef(in bpf.RawInstruction) (use, def uint32) {
	const a, x = 1 << rA, 1 << rX
	m := uint32(1) << (rM0 + in.K&(memWords-1))
	switch in.Op & 0x07 {
	case clsLD:
		switch in.Op & 0xe0 {
		case modeIND:
			return x, a
		case modeMEM:
			return m, a
		}
		return 0, a
	case clsLDX:
		if in.Op&0xe0 == modeMEM {
			return m, x
		}
		return 0, x
	case clsST:
		return a, m
	case clsSTX:
		return x, m
	case clsALU:
		if in.Op&srcX != 0 && in.Op != clsALU|aluNEG {
			return a | x, a
		}
		return a, a
	case clsMISC:
		if in.Op == clsMISC|miscTAX {
			return a, x
		}
		return x, a
	case clsJMP:
		if in.Op == clsJMP|jmpJA {
			return 0, 0
		}
		if in.Op&srcX != 0 {
			return a | x, 0
		}
		return a, 0
	case clsRET:
		if in.Op == clsRET|0x10 {
			return a, 0
		}
	}
	return 0, 0
}

// termUses returns the registers b's terminator reads.
func (b *oblock) termUses() uint32 {
	u, _ := useDef(bpf.RawInstruction{Op: b.op, K: b.k})
	return u
}

// liveness computes liveIn for every block.
func (o *optimizer) liveness() {
	for i := len(o.order) - 1; i >= 0; i-- {
		b := o.order[i]
		live := b.termUses()
		for j := range b.nsucc() {
			live |= b.succ[j].liveIn
		}
		b.liveIn = liveBefore(b.stmts, live)
	}
}

// liveBefore returns the registers live before stmts given those live
// after them.
func liveBefore(stmts []bpf.RawInstruction, live uint32) uint32 {
	for j := len(stmts) - 1; j >= 0; j-- {
		u, d := useDef(stmts[j])
		live = live&^d | u
	}
	return live
}

// Value numbering.

// vdef defines a value: an instruction applied to operand values, a
// constant, or an opaque value (one the analysis knows nothing about).
type vdef struct {
	op   uint16 // instruction code, vConst or vOpaque
	k    uint32
	a, b int32 // operand value numbers, -1 if none
}

const (
	vConst  = 0xffff
	vOpaque = 0xfffe
)

// vinfo is what a value's definition alone implies about it: lo <= v <=
// hi, v&zeros == 0, v&ones == ones.
type vinfo struct{ lo, hi, zeros, ones uint32 }

type vtable struct {
	ids     map[vdef]int32
	defs    []vdef
	info    []vinfo
	nopaque uint32
}

func newVtable() *vtable { return &vtable{ids: map[vdef]int32{}} }

func (t *vtable) get(d vdef) int32 {
	if id, ok := t.ids[d]; ok {
		return id
	}
	id := int32(len(t.defs))
	t.ids[d] = id
	t.defs = append(t.defs, d)
	t.info = append(t.info, t.intrinsic(d))
	return id
}

func (t *vtable) konst(k uint32) int32 { return t.get(vdef{op: vConst, k: k, a: -1, b: -1}) }

func (t *vtable) opaque() int32 {
	t.nopaque++
	return t.get(vdef{op: vOpaque, k: t.nopaque, a: -1, b: -1})
}

func (t *vtable) constOf(v int32) (uint32, bool) {
	d := t.defs[v]
	return d.k, d.op == vConst
}

// plainLoad reports whether a load reads packet bytes at an ordinary
// offset: for the kernel an absolute offset of 2^31 or more, or an
// indexed one that may reach it, reads socket metadata or other special
// data instead, of any size.
func (t *vtable) plainLoad(d vdef) bool {
	if d.k >= 1<<31 {
		return false
	}
	return d.op&0xe0 != modeIND || uint64(t.info[d.a].hi)+uint64(d.k)+4 < 1<<31
}

// loadSize is the number of bytes a packet load reads.
func loadSize(op uint16) uint32 {
	switch {
	case op == clsLDX|szB|modeMSH:
		return 1
	case op&0x18 == szB:
		return 1
	case op&0x18 == szH:
		return 2
	}
	return 4
}

func isPacketLoad(op uint16) bool {
	switch op & 0xe7 {
	case clsLD | modeABS, clsLD | modeIND:
		return true
	}
	return op == clsLDX|szB|modeMSH
}

func (t *vtable) intrinsic(d vdef) vinfo {
	full := vinfo{0, ^uint32(0), 0, 0}
	switch {
	case d.op == vConst:
		return vinfo{d.k, d.k, ^d.k, d.k}
	case d.op == clsLDX|szB|modeMSH:
		if d.k < 1<<31 {
			return vinfo{0, 60, ^uint32(0x3c), 0}
		}
	case isPacketLoad(d.op):
		if t.plainLoad(d) && d.op&0x18 != szW {
			hi := uint32(0xff)
			if d.op&0x18 == szH {
				hi = 0xffff
			}
			return vinfo{0, hi, ^hi, 0}
		}
	case d.op == clsALU|aluAND|srcK:
		a := t.info[d.a]
		return vinfo{0, min(a.hi, d.k), a.zeros | ^d.k, a.ones & d.k}
	case d.op == clsALU|aluOR|srcK:
		a := t.info[d.a]
		return vinfo{max(a.lo, d.k), ^uint32(0), a.zeros &^ d.k, a.ones | d.k}
	case d.op == clsALU|aluRSH|srcK && d.k < 32:
		a := t.info[d.a]
		return vinfo{a.lo >> d.k, a.hi >> d.k, ^(^uint32(0) >> d.k) | a.zeros>>d.k, a.ones >> d.k}
	case d.op == clsALU|aluLSH|srcK && d.k < 32:
		a := t.info[d.a]
		v := vinfo{0, ^uint32(0), a.zeros<<d.k | (1<<d.k - 1), a.ones << d.k}
		if a.hi <= ^uint32(0)>>d.k {
			v.lo, v.hi = a.lo<<d.k, a.hi<<d.k
		}
		return v
	case d.op == clsALU|aluADD|srcK:
		a := t.info[d.a]
		if a.hi <= ^uint32(0)-d.k {
			return vinfo{a.lo + d.k, a.hi + d.k, 0, 0}
		}
	}
	return full
}

// alu numbers an ALU operation of the value a with the constant k
// (srcK) or the value x (srcX), simplified only where every interpreter
// computes the same: constants are folded; an operation with X holding
// a constant is the one with that constant (shifts by less than 32,
// divisions by other than zero); a commutative operation of a constant
// in A with X is that of X with the constant; and an operation that
// leaves its operand as it is ("add #0", "mul #1", "and #0xffffffff")
// is the operand.
func (o *optimizer) alu(op uint16, a int32, k uint32, x int32) int32 {
	t := o.vt
	if op == clsALU|aluNEG {
		if c, ok := t.constOf(a); ok {
			return t.konst(-c)
		}
		return t.get(vdef{op, 0, a, -1})
	}
	code := op & 0xf0
	if op&srcX != 0 {
		if c, ok := t.constOf(x); ok && constOperand(code, c) {
			return o.alu(clsALU|code|srcK, a, c, -1)
		}
		if c, ok := t.constOf(a); ok && (code == aluADD || code == aluMUL || code == aluAND || code == aluOR || code == aluXOR) {
			return o.alu(clsALU|code|srcK, x, c, -1)
		}
		return t.get(vdef{op, 0, a, x})
	}
	if ca, ok := t.constOf(a); ok {
		if v, ok := foldALUSafe(code, ca, k); ok {
			return t.konst(v)
		}
	}
	switch {
	case k == 0 && (code == aluADD || code == aluSUB || code == aluOR || code == aluXOR || code == aluLSH || code == aluRSH),
		k == 1 && (code == aluMUL || code == aluDIV),
		k == ^uint32(0) && code == aluAND:
		return a
	case k == 0 && (code == aluMUL || code == aluAND), k == 1 && code == aluMOD:
		return t.konst(0)
	}
	return t.get(vdef{op, k, a, -1})
}

// constOperand reports whether the ALU operation code with X holding c
// computes what it computes with the constant c.
func constOperand(code uint16, c uint32) bool {
	switch code {
	case aluDIV, aluMOD:
		return c != 0
	case aluLSH, aluRSH:
		return c < 32
	}
	return true
}

// foldALUSafe folds an ALU operation on constants where every
// interpreter computes the same result.
func foldALUSafe(op uint16, a, b uint32) (uint32, bool) {
	switch op {
	case aluADD:
		return a + b, true
	case aluSUB:
		return a - b, true
	case aluMUL:
		return a * b, true
	case aluDIV:
		if b != 0 {
			return a / b, true
		}
	case aluMOD:
		if b != 0 {
			return a % b, true
		}
	case aluAND:
		return a & b, true
	case aluOR:
		return a | b, true
	case aluXOR:
		return a ^ b, true
	case aluLSH:
		if b < 32 {
			return a << b, true
		}
	case aluRSH:
		if b < 32 {
			return a >> b, true
		}
	}
	return 0, false
}

// eval applies a statement to the register values: it returns the
// register written and its new value.
func (o *optimizer) eval(reg *[nReg]int32, in bpf.RawInstruction) (int, int32) {
	t := o.vt
	mem := rM0 + int(in.K&(memWords-1))
	switch in.Op {
	case clsLD | szW | modeABS, clsLD | szH | modeABS, clsLD | szB | modeABS:
		return rA, t.get(vdef{in.Op, in.K, -1, -1})
	case clsLD | szW | modeIND, clsLD | szH | modeIND, clsLD | szB | modeIND:
		return rA, t.get(vdef{in.Op, in.K, reg[rX], -1})
	case clsLDX | szB | modeMSH:
		return rX, t.get(vdef{in.Op, in.K, -1, -1})
	case clsLD | szW | modeLEN:
		return rA, t.get(vdef{clsLD | szW | modeLEN, 0, -1, -1})
	case clsLDX | szW | modeLEN:
		return rX, t.get(vdef{clsLD | szW | modeLEN, 0, -1, -1})
	case clsLD | modeIMM:
		return rA, t.konst(in.K)
	case clsLDX | modeIMM:
		return rX, t.konst(in.K)
	case clsLD | modeMEM:
		return rA, reg[mem]
	case clsLDX | modeMEM:
		return rX, reg[mem]
	case clsST:
		return mem, reg[rA]
	case clsSTX:
		return mem, reg[rX]
	case clsMISC | miscTAX:
		return rX, reg[rA]
	case clsMISC | miscTXA:
		return rA, reg[rX]
	}
	return rA, o.alu(in.Op, reg[rA], in.K, reg[rX])
}

// Facts along an edge.

// vfact is what the tests taken so far tell about a value, on top of
// its vinfo: lo <= v <= hi, v&zeros == 0, v&ones == ones, v differs
// from every neq, and v&m != 0 for every m in anySet.
type vfact struct {
	lo, hi, zeros, ones uint32
	neq                 []uint32
	anySet              []uint32
}

// xtest is a test of a value against the value in X.
type xtest struct {
	op   uint16
	a, x int32
}

// ostate is the analysis state at a point of the program: the value in
// each register and what is known on every path to the point. Its maps
// are never shared between states.
type ostate struct {
	reg   [nReg]int32
	facts map[int32]*vfact // by value; the vfacts are immutable
	xt    map[xtest]bool   // outcomes of tests against X
	ends  map[int32]uint32 // per base (-1 absolute, else the value in X): loads ending at or before succeed
	done  map[int32]bool   // loads (by value) made on every path
}

func (s *ostate) clone() *ostate {
	c := *s
	c.facts, c.xt, c.ends, c.done = maps.Clone(s.facts), maps.Clone(s.xt), maps.Clone(s.ends), maps.Clone(s.done)
	return &c
}

// meet returns what holds after either a or b.
func (o *optimizer) meet(a, b *ostate) *ostate {
	r := &ostate{}
	for i := range r.reg {
		if a.reg[i] == b.reg[i] {
			r.reg[i] = a.reg[i]
		} else {
			r.reg[i] = o.vt.opaque()
		}
	}
	for v, fa := range a.facts {
		if fb, ok := b.facts[v]; ok {
			if r.facts == nil {
				r.facts = map[int32]*vfact{}
			}
			r.facts[v] = meetFact(fa, fb)
		}
	}
	for t, va := range a.xt {
		if vb, ok := b.xt[t]; ok && va == vb {
			if r.xt == nil {
				r.xt = map[xtest]bool{}
			}
			r.xt[t] = va
		}
	}
	for base, ea := range a.ends {
		if eb, ok := b.ends[base]; ok {
			if r.ends == nil {
				r.ends = map[int32]uint32{}
			}
			r.ends[base] = min(ea, eb)
		}
	}
	for v := range a.done {
		if b.done[v] {
			if r.done == nil {
				r.done = map[int32]bool{}
			}
			r.done[v] = true
		}
	}
	return r
}

func meetFact(a, b *vfact) *vfact {
	f := &vfact{lo: min(a.lo, b.lo), hi: max(a.hi, b.hi), zeros: a.zeros & b.zeros, ones: a.ones & b.ones}
	for _, k := range a.neq {
		if slices.Contains(b.neq, k) {
			f.neq = append(f.neq, k)
		}
	}
	for _, m := range a.anySet {
		if slices.Contains(b.anySet, m) {
			f.anySet = append(f.anySet, m)
		}
	}
	return f
}

// known returns everything known about v in s.
func (o *optimizer) known(s *ostate, v int32) vfact {
	in := o.vt.info[v]
	f := vfact{lo: in.lo, hi: in.hi, zeros: in.zeros, ones: in.ones}
	if sf := s.facts[v]; sf != nil {
		f.lo, f.hi = max(f.lo, sf.lo), min(f.hi, sf.hi)
		f.zeros |= sf.zeros
		f.ones |= sf.ones
		f.neq, f.anySet = sf.neq, sf.anySet
	}
	return f
}

func jumpTaken(op uint16, a, k uint32) bool {
	switch op & 0xf0 {
	case jmpJEQ:
		return a == k
	case jmpJGT:
		return a > k
	case jmpJGE:
		return a >= k
	}
	return a&k != 0
}

// decideK decides "a op k" from f, if f determines it.
func decideK(f vfact, op uint16, k uint32) (taken, ok bool) {
	if f.lo == f.hi {
		return jumpTaken(op, f.lo, k), true
	}
	switch op & 0xf0 {
	case jmpJEQ:
		if k < f.lo || k > f.hi || k&f.zeros != 0 || ^k&f.ones != 0 || slices.Contains(f.neq, k) {
			return false, true
		}
	case jmpJGT:
		if f.lo > k {
			return true, true
		}
		if f.hi <= k {
			return false, true
		}
	case jmpJGE:
		if f.lo >= k {
			return true, true
		}
		if f.hi < k {
			return false, true
		}
	case jmpJSET:
		if k&f.ones != 0 {
			return true, true
		}
		if k&^f.zeros == 0 {
			return false, true
		}
		for _, m := range f.anySet {
			if m&^k == 0 {
				return true, true
			}
		}
	}
	return false, false
}

// decide decides the conditional jump op (with constant k, or the
// value x for srcX) on the value a, if s determines it.
func (o *optimizer) decide(s *ostate, op uint16, a int32, k uint32, x int32) (taken, ok bool) {
	if op&srcX != 0 {
		if c, isConst := o.vt.constOf(x); isConst {
			k = c
		} else {
			if a == x {
				switch op & 0xf0 {
				case jmpJEQ, jmpJGE:
					return true, true
				case jmpJGT:
					return false, true
				}
				nz, known := decideK(o.known(s, a), jmpJEQ, 0)
				return !nz, known
			}
			taken, ok = s.xt[xtest{op, a, x}]
			return taken, ok
		}
	}
	return decideK(o.known(s, a), op, k)
}

// assume records in s that "a op k" (or "a op x") came out as taken.
func (o *optimizer) assume(s *ostate, op uint16, a int32, k uint32, x int32, taken bool) {
	if op&srcX != 0 {
		c, isConst := o.vt.constOf(x)
		if !isConst {
			if len(s.xt) < maxFacts {
				if s.xt == nil {
					s.xt = map[xtest]bool{}
				}
				s.xt[xtest{op, a, x}] = taken
			}
			return
		}
		k = c
	}
	old := s.facts[a]
	if old == nil && len(s.facts) >= maxFacts {
		return
	}
	f := &vfact{hi: ^uint32(0)}
	if old != nil {
		*f = *old
	}
	switch op & 0xf0 {
	case jmpJEQ:
		if taken {
			f.lo, f.hi, f.zeros, f.ones = k, k, ^k, k
			f.neq, f.anySet = nil, nil
		} else {
			if len(f.neq) < maxNeq && !slices.Contains(f.neq, k) {
				f.neq = append(slices.Clip(f.neq), k)
			}
			if f.lo == k && k != ^uint32(0) {
				f.lo++
			}
			if f.hi == k && k != 0 {
				f.hi--
			}
		}
	case jmpJGT:
		if taken {
			if k != ^uint32(0) {
				f.lo = max(f.lo, k+1)
			}
		} else {
			f.hi = min(f.hi, k)
		}
	case jmpJGE:
		if taken {
			f.lo = max(f.lo, k)
		} else if k != 0 {
			f.hi = min(f.hi, k-1)
		}
	case jmpJSET:
		if !taken {
			f.zeros |= k
		} else if k&(k-1) == 0 {
			f.ones |= k
		} else if len(f.anySet) < maxAnySet {
			f.anySet = append(slices.Clip(f.anySet), k)
		}
	}
	if s.facts == nil {
		s.facts = map[int32]*vfact{}
	}
	s.facts[a] = f
}

// loadRange returns the base (-1 for absolute offsets, else the value
// in X) and the end of the bytes a packet load reads, if loads from the
// same base that end earlier can be known to succeed once it did.
func (o *optimizer) loadRange(in bpf.RawInstruction, reg *[nReg]int32) (base int32, end uint32, ok bool) {
	if in.K >= 1<<31 {
		return 0, 0, false
	}
	end = in.K + loadSize(in.Op)
	if in.Op&0xe0 != modeIND {
		return -1, end, true
	}
	x := reg[rX]
	if uint64(o.vt.info[x].hi)+uint64(end) >= 1<<31 {
		return 0, 0, false
	}
	return x, end, true
}

// canFail reports whether a statement may end the program (a load
// outside the packet, a division by zero) in state s with registers reg.
func (o *optimizer) canFail(s *ostate, reg *[nReg]int32, in bpf.RawInstruction) bool {
	switch {
	case isPacketLoad(in.Op):
		_, v := o.eval(reg, in)
		if s.done[v] {
			return false
		}
		base, end, ok := o.loadRange(in, reg)
		if !ok {
			return true
		}
		e, known := s.ends[base]
		return !known || end > e
	case in.Op&0x07 == clsALU && (in.Op&0xf0 == aluDIV || in.Op&0xf0 == aluMOD):
		if in.Op&srcX == 0 {
			return in.K == 0
		}
		zero, known := decideK(o.known(s, reg[rX]), jmpJEQ, 0)
		return !known || zero
	}
	return false
}

// loaded records that a packet load succeeded.
func (o *optimizer) loaded(s *ostate, reg *[nReg]int32, in bpf.RawInstruction, v int32) {
	if len(s.done) < maxLoadFacts {
		if s.done == nil {
			s.done = map[int32]bool{}
		}
		s.done[v] = true
	}
	if base, end, ok := o.loadRange(in, reg); ok {
		if e, known := s.ends[base]; !known || end > e {
			if known || len(s.ends) < maxLoadFacts {
				if s.ends == nil {
					s.ends = map[int32]uint32{}
				}
				s.ends[base] = end
			}
		}
	}
}

// step runs one statement on s.
func (o *optimizer) step(s *ostate, in bpf.RawInstruction) {
	r, v := o.eval(&s.reg, in)
	if isPacketLoad(in.Op) {
		o.loaded(s, &s.reg, in, v)
	}
	s.reg[r] = v
}

// operands returns the tested value and the X operand (-1 for srcK) of
// b's jump in s.
func (b *oblock) operands(s *ostate) (a, x int32) {
	x = -1
	if b.op&srcX != 0 {
		x = s.reg[rX]
	}
	return s.reg[rA], x
}

// forward is one pass over the blocks in topological order: it groups
// chains, drops redundant and dead statements, decides tests and
// threads jumps. It reports whether it changed anything.
func (o *optimizer) forward() bool {
	o.vt = newVtable()
	o.steps = 0
	o.liveness()
	changed := false
	init := &ostate{}
	for i := range init.reg {
		init.reg[i] = o.vt.opaque()
	}
	o.root.in = init
	for _, b := range o.order {
		s := b.in
		b.in = nil
		if s == nil {
			continue // no longer reachable
		}
		if b.isCond() && !b.chained && o.groupChain(b, s) {
			changed = true
		}
		if o.simplify(b, s) {
			changed = true
		}
	}
	return changed
}

// simplify optimizes block b entered in state s and passes the states
// of its edges on to its successors.
func (o *optimizer) simplify(b *oblock, s *ostate) bool {
	changed := o.foldIndexOffset(b, s)
	// Statements that write what the register holds already go; the
	// others are kept with whether they can fail where they are.
	st := s.clone()
	kept := b.stmts[:0:0]
	var fails []bool
	states := []*ostate{st.clone()}
	for _, in := range b.stmts {
		r, v := o.eval(&st.reg, in)
		if st.reg[r] == v {
			changed = true
			continue
		}
		fails = append(fails, o.canFail(st, &st.reg, in))
		kept = append(kept, in)
		o.step(st, in)
		states = append(states, st.clone())
	}

	// Canonical tests: against the constant X holds rather than X, and
	// "A + c == k" (also "-", "^") or "(A & m) & k" as the same test on A
	// when the operation on A is the block's last statement and A is not
	// used after the block, so that tests of the same value are seen
	// to be so.
	if b.isCond() {
		if c, ok := o.vt.constOf(st.reg[rX]); ok && b.op&srcX != 0 {
			b.op, b.k = b.op&^srcX, c
			changed = true
		}
		for b.op&srcX == 0 && (b.succ[0].liveIn|b.succ[1].liveIn)&(1<<rA) == 0 && len(kept) > 0 {
			n := len(kept)
			last, before := kept[n-1], states[n-1]
			c, ok := last.K, last.Op&0x07 == clsALU && last.Op != clsALU|aluNEG
			if ok && last.Op&srcX != 0 {
				c, ok = o.vt.constOf(before.reg[rX])
			}
			if !ok {
				break
			}
			switch jump, alu := b.op&0xf0, last.Op&0xf0; {
			case jump == jmpJEQ && alu == aluADD:
				b.k -= c
			case jump == jmpJEQ && alu == aluSUB:
				b.k += c
			case jump == jmpJEQ && alu == aluXOR:
				b.k ^= c
			case jump == jmpJSET && alu == aluAND:
				b.k &= c
			default:
				ok = false
			}
			if !ok {
				break
			}
			kept, fails, states = kept[:n-1], fails[:n-1], states[:n]
			st = before.clone()
			changed = true
		}
	}

	// Decide the test, then thread the edges.
	if b.isCond() {
		a, x := b.operands(st)
		if taken, ok := o.decide(st, b.op, a, b.k, x); ok {
			keep, drop := b.succ[0], b.succ[1]
			if !taken {
				keep, drop = drop, keep
			}
			drop.npred--
			b.op, b.k, b.succ = clsJMP|jmpJA, 0, [2]*oblock{keep, nil}
			changed = true
		}
	}
	edges := o.edgeStates(b, st)
	for i, e := range edges {
		if t := o.thread(e, b.succ[i]); t != b.succ[i] {
			b.succ[i] = t
			changed = true
		}
	}

	// Dead statements: a tail of statements that cannot fail and leaves
	// every register that matters as it was before it goes, then every
	// statement that cannot fail and whose result is not used.
	live := b.termUses()
	for i := range b.nsucc() {
		live |= b.succ[i].liveIn
	}
	for j := range kept {
		if sameRegs(states[j], states[len(kept)], live) && !slices.Contains(fails[j:], true) {
			kept, fails = kept[:j], fails[:j]
			changed = true
			break
		}
	}
	for j := len(kept) - 1; j >= 0; j-- {
		u, d := useDef(kept[j])
		if d&live == 0 && !fails[j] {
			kept = slices.Delete(kept, j, j+1)
			fails = slices.Delete(fails, j, j+1)
			changed = true
			continue
		}
		live = live&^d | u
	}
	b.stmts = kept

	// The states of the edges, after what is left of the block.
	st = s.clone()
	for _, in := range b.stmts {
		o.step(st, in)
	}
	for i, e := range o.edgeStates(b, st) {
		t := b.succ[i]
		if t.in == nil {
			t.in = e
		} else {
			t.in = o.meet(t.in, e)
		}
	}
	return changed
}

// foldIndexOffset rewrites "tax" that puts X + c into X, where c is a
// constant, followed by indexed loads "[x + k]", as those loads at
// "[x + k + c]" from the X left as it was, when nothing else reads the
// X "tax" wrote (libpcap computes "tcp[2:2]" as X = header length + 2,
// then [x + 14]). Nothing can overflow: the loads must be plain at
// both offsets (see plainLoad). The statements that computed X + c are
// then dead. It reports whether it rewrote b.
func (o *optimizer) foldIndexOffset(b *oblock, s *ostate) bool {
	if b.termUses()&(1<<rX) != 0 {
		return false
	}
	for i := range b.nsucc() {
		if b.succ[i].liveIn&(1<<rX) != 0 {
			return false
		}
	}
	reg := s.reg
	for j, in := range b.stmts {
		if in.Op == clsMISC|miscTAX {
			d := o.vt.defs[reg[rA]]
			if d.op == clsALU|aluADD|srcK && d.a == reg[rX] && o.foldable(b.stmts[j+1:], d) {
				stmts := slices.Delete(slices.Clone(b.stmts), j, j+1)
				for i := j; i < len(stmts); i++ {
					if stmts[i].Op&0xe7 == clsLD|modeIND {
						stmts[i].K += d.k
					}
				}
				b.stmts = stmts
				return true
			}
		}
		w, v := o.eval(&reg, in)
		reg[w] = v
	}
	return false
}

// foldable reports whether X's value X + c, d its definition, is read
// in stmts only by indexed loads that read the same bytes from X at the
// offset plus c.
func (o *optimizer) foldable(stmts []bpf.RawInstruction, d vdef) bool {
	hi := uint64(o.vt.info[d.a].hi)
	for _, in := range stmts {
		u, def := useDef(in)
		switch {
		case in.Op&0xe7 == clsLD|modeIND:
			if in.K >= 1<<31 || hi+uint64(d.k)+uint64(in.K)+4 >= 1<<31 {
				return false
			}
			continue
		case u&(1<<rX) != 0 || def&(1<<rX) != 0:
			return false
		}
	}
	return true
}

// sameRegs reports whether a and b agree on the registers in mask.
func sameRegs(a, b *ostate, mask uint32) bool {
	for r := range nReg {
		if mask&(1<<r) != 0 && a.reg[r] != b.reg[r] {
			return false
		}
	}
	return true
}

// edgeStates returns the state on each edge leaving b, st being the
// state after its statements.
func (o *optimizer) edgeStates(b *oblock, st *ostate) []*ostate {
	switch b.nsucc() {
	case 1:
		return []*ostate{st.clone()}
	case 2:
		a, x := b.operands(st)
		t, f := st.clone(), st.clone()
		o.assume(t, b.op, a, b.k, x, true)
		o.assume(f, b.op, a, b.k, x, false)
		return []*ostate{t, f}
	}
	return nil
}

// thread follows an edge in state e into t as far as the blocks it
// reaches are decided: their statements cannot fail, their test is
// decided in e, and the registers they write are not used from where
// the edge then goes. It returns the new target.
func (o *optimizer) thread(e *ostate, t *oblock) *oblock {
	for o.steps < maxThreadSteps && t.nsucc() > 0 {
		o.steps++
		reg := e.reg
		var written uint32
		for _, in := range t.stmts {
			if o.canFail(e, &reg, in) {
				return t
			}
			r, v := o.eval(&reg, in)
			if reg[r] != v {
				written |= 1 << r
			}
			reg[r] = v
		}
		u := t.succ[0]
		if t.isCond() {
			x := int32(-1)
			if t.op&srcX != 0 {
				x = reg[rX]
			}
			taken, ok := o.decide(e, t.op, reg[rA], t.k, x)
			if !ok {
				return t
			}
			if !taken {
				u = t.succ[1]
			}
		}
		if written&u.liveIn != 0 {
			return t
		}
		t.npred--
		u.npred++
		t = u
	}
	return t
}

// chainTest is one test of a chain.
type chainTest struct {
	v      int32  // the value tested (A)
	op     uint16 // the jump
	k      uint32
	exitOn bool // the outcome that leaves the chain
	cost   int  // statements of the original block
}

// groupChain looks for a chain of tests starting at b, entered in state
// s: blocks b, b2, ... each with one edge to a common exit and the
// other to the next block of the chain, the only way into it. Such a
// chain leaves for the exit as soon as one test comes out as its exit
// outcome, so when no statement of its blocks can fail (their loads
// were made before b) and none writes anything but A, its tests can be
// made in any order. groupChain orders them so that tests of the same
// value follow each other, recomputes each value once, and rewrites the
// blocks in place. It reports whether it changed the chain.
func (o *optimizer) groupChain(b *oblock, s *ostate) bool {
	exit := o.chainExit(b)
	if exit == nil || exit.liveIn&(1<<rA) != 0 {
		return false
	}
	var tests []chainTest
	var blocks []*oblock
	reg := s.reg
	var cont *oblock
	for cur := b; ; {
		if len(tests) == maxChain || !cur.isCond() || (cur != b && cur.npred != 1) {
			cont = cur
			break
		}
		ok := true
		r := reg
		for _, in := range cur.stmts {
			if o.canFail(s, &r, in) {
				ok = false
				break
			}
			w, v := o.eval(&r, in)
			if w != rA && r[w] != v {
				ok = false
				break
			}
			r[w] = v
		}
		if !ok || (cur.op&srcX != 0 && r[rX] != s.reg[rX]) {
			cont = cur
			break
		}
		if _, ok := o.materialize(s, r[rA]); !ok && r[rA] != s.reg[rA] {
			cont = cur
			break
		}
		var next *oblock
		t := chainTest{v: r[rA], op: cur.op, k: cur.k, cost: len(cur.stmts)}
		switch exit {
		case cur.succ[0]:
			t.exitOn, next = true, cur.succ[1]
		case cur.succ[1]:
			t.exitOn, next = false, cur.succ[0]
		default:
			cont = cur
		}
		if cont != nil || next == exit {
			cont = cur
			break
		}
		cur.chained = true
		tests = append(tests, t)
		blocks = append(blocks, cur)
		reg = r
		cur = next
	}
	if len(tests) < 2 || cont.liveIn&(1<<rA) != 0 {
		return false
	}

	// Group by value, in order of first appearance, the value in A
	// first.
	groups := map[int32][]chainTest{}
	var values []int32
	for _, t := range tests {
		if _, seen := groups[t.v]; !seen {
			values = append(values, t.v)
		}
		groups[t.v] = append(groups[t.v], t)
	}
	if i := slices.Index(values, s.reg[rA]); i > 0 {
		values = slices.Insert(slices.Delete(values, i, i+1), 0, s.reg[rA])
	}
	oldCost, newCost := 0, 0
	for _, t := range tests {
		oldCost += t.cost
	}
	code := make([][]bpf.RawInstruction, len(values))
	for i, v := range values {
		if v != s.reg[rA] {
			code[i], _ = o.materialize(s, v)
			newCost += len(code[i])
		}
	}
	if newCost > oldCost || len(values) == len(tests) {
		return false // nothing to group, or no cheaper
	}
	inOrder := true
	j := 0
	for _, v := range values {
		for _, t := range groups[v] {
			if tests[j] != t {
				inOrder = false
			}
			j++
		}
	}
	if inOrder && newCost == oldCost {
		return false
	}
	j = 0
	for i, v := range values {
		for n, t := range groups[v] {
			blk := blocks[j]
			blk.stmts = nil
			if n == 0 {
				blk.stmts = code[i]
			}
			blk.op, blk.k = t.op, t.k
			next := cont
			if j+1 < len(blocks) {
				next = blocks[j+1]
			}
			if t.exitOn {
				blk.succ = [2]*oblock{exit, next}
			} else {
				blk.succ = [2]*oblock{next, exit}
			}
			j++
		}
	}
	// Threading into the chain's blocks later in the pass reads their
	// liveness.
	for j := len(blocks) - 1; j >= 0; j-- {
		blk := blocks[j]
		blk.liveIn = liveBefore(blk.stmts, blk.termUses()|blk.succ[0].liveIn|blk.succ[1].liveIn)
	}
	return true
}

// chainExit returns the exit of the chain starting at b: the successor
// b shares with the block it continues to, if that block can only be
// entered from b.
func (o *optimizer) chainExit(b *oblock) *oblock {
	for i := range 2 {
		exit, next := b.succ[i], b.succ[1-i]
		if next != exit && next.npred == 1 && next.isCond() && (next.succ[0] == exit || next.succ[1] == exit) {
			return exit
		}
	}
	return nil
}

// materialize returns statements that load the value v into A in state
// s, writing nothing else and failing never, if there are such.
func (o *optimizer) materialize(s *ostate, v int32) ([]bpf.RawInstruction, bool) {
	var out []bpf.RawInstruction
	ok := o.materializeInto(s, v, &out)
	return out, ok && len(out) <= maxMaterialize
}

func (o *optimizer) materializeInto(s *ostate, v int32, out *[]bpf.RawInstruction) bool {
	if len(*out) > maxMaterialize {
		return false
	}
	for m := range memWords {
		if s.reg[rM0+m] == v {
			*out = append(*out, bpf.RawInstruction{Op: clsLD | modeMEM, K: uint32(m)})
			return true
		}
	}
	if s.reg[rX] == v {
		*out = append(*out, bpf.RawInstruction{Op: clsMISC | miscTXA})
		return true
	}
	d := o.vt.defs[v]
	in := bpf.RawInstruction{Op: d.op, K: d.k}
	switch {
	case d.op == vConst:
		in.Op = clsLD | modeIMM
	case d.op == clsLD|szW|modeLEN:
	case d.op&0xe7 == clsLD|modeABS, d.op&0xe7 == clsLD|modeIND:
		if d.op&0xe0 == modeIND && d.a != s.reg[rX] {
			return false
		}
		if o.canFail(s, &s.reg, in) {
			return false
		}
	case d.op == clsALU|aluNEG || (d.op&0x07 == clsALU && d.op&srcX == 0):
		if d.op&0xf0 == aluDIV || d.op&0xf0 == aluMOD {
			if d.k == 0 {
				return false
			}
		}
		if !o.materializeInto(s, d.a, out) {
			return false
		}
	case d.op&0x07 == clsALU:
		if d.b != s.reg[rX] || d.op&0xf0 == aluDIV || d.op&0xf0 == aluMOD {
			return false
		}
		if !o.materializeInto(s, d.a, out) {
			return false
		}
	default:
		return false
	}
	*out = append(*out, in)
	return true
}

// cleanup removes what the forward pass left unreachable or empty and
// merges identical blocks. It reports whether it changed anything.
func (o *optimizer) cleanup() bool {
	changed := false
	o.renumber()
	// Jumps to empty blocks that only jump on go where those go; tests
	// whose outcomes lead to the same place become jumps.
	skip := func(b *oblock) *oblock {
		for n := 0; b.isGoto() && len(b.stmts) == 0 && n < len(o.order); n++ {
			b = b.succ[0]
		}
		return b
	}
	o.root = skip(o.root)
	for _, b := range o.order {
		for i := range b.nsucc() {
			if t := skip(b.succ[i]); t != b.succ[i] {
				b.succ[i] = t
				changed = true
			}
		}
		if b.isCond() && b.succ[0] == b.succ[1] {
			b.op, b.k, b.succ[1] = clsJMP|jmpJA, 0, nil
			changed = true
		}
	}
	o.renumber()

	// Identical blocks (same code, same successors), successors first.
	rep := map[string]*oblock{}
	repOf := map[*oblock]*oblock{}
	var key []byte
	for i := len(o.order) - 1; i >= 0; i-- {
		b := o.order[i]
		for j := range b.nsucc() {
			if r := repOf[b.succ[j]]; r != nil {
				b.succ[j] = r
				changed = true
			}
		}
		key = binary.LittleEndian.AppendUint32(key[:0], uint32(len(b.stmts)))
		for _, in := range b.stmts {
			key = binary.LittleEndian.AppendUint16(key, in.Op)
			key = binary.LittleEndian.AppendUint32(key, in.K)
		}
		key = binary.LittleEndian.AppendUint16(key, b.op)
		key = binary.LittleEndian.AppendUint32(key, b.k)
		for j := range b.nsucc() {
			key = binary.LittleEndian.AppendUint32(key, uint32(b.succ[j].order))
		}
		if r, ok := rep[string(key)]; ok {
			repOf[b] = r
			continue
		}
		rep[string(key)] = b
	}
	if r := repOf[o.root]; r != nil {
		o.root = r
	}
	o.renumber()

	// A jump to a block entered only from there: the two become one.
	for _, b := range o.order {
		if b.npred == 0 && b != o.root {
			continue // absorbed below
		}
		for b.isGoto() && b.succ[0].npred == 1 && b.succ[0] != o.root {
			t := b.succ[0]
			b.stmts = append(slices.Clip(b.stmts), t.stmts...)
			b.op, b.k, b.succ = t.op, t.k, t.succ
			t.npred = 0
			changed = true
		}
	}
	o.renumber()
	return changed
}

// emit lays the blocks out in their order and encodes them.
func (o *optimizer) emit() []bpf.RawInstruction {
	if out := o.layout(true); out != nil {
		return out
	}
	return o.layout(false)
}

// maxTramps bounds the unconditional jumps placed after one block, so
// that jumping over them stays within reach.
const maxTramps = 64

// layout encodes the blocks in order. A conditional branch whose target
// is more than 255 instructions away goes through an unconditional jump
// ("ja", 32-bit offset) placed after some block in reach, where the
// code does not fall through: with share, the furthest such place, where
// later far branches to the same target find it too; without, right
// after the branch (libpcap's way). Placing jumps moves others out of
// reach, so the placement is repeated until every branch reaches. It
// returns nil if that does not settle.
func (o *optimizer) layout(share bool) []bpf.RawInstruction {
	order := o.order
	n := len(order)
	for _, b := range order {
		b.tramps = nil
	}
	// termLen is the length of block i's terminator: a jump to the next
	// block is left out.
	termLen := func(i int) int {
		b := order[i]
		if b.isGoto() && len(b.tramps) == 0 && i+1 < n && order[i+1] == b.succ[0] {
			return 0
		}
		return 1
	}
	pos := make([]int, n+1)
	place := func() {
		p := 0
		for i, b := range order {
			pos[i] = p
			p += len(b.stmts) + termLen(i) + len(b.tramps)
		}
		pos[n] = p
	}
	// tramp returns the position of an unconditional jump to t after
	// block i within reach of a branch at jp, or -1.
	tramp := func(i int, t *oblock, jp int) int {
		for c := i; c < n && pos[c] <= jp+256; c++ {
			first := pos[c+1] - len(order[c].tramps)
			for j, u := range order[c].tramps {
				if u == t && first+j > jp && first+j <= jp+256 {
					return first + j
				}
			}
		}
		return -1
	}
	for iter := 0; ; iter++ {
		if iter == 64 {
			return nil
		}
		place()
		added := false
		for i, b := range order {
			if !b.isCond() {
				continue
			}
			jp := pos[i] + len(b.stmts)
			for _, t := range b.succ {
				if pos[t.order]-jp-1 <= 255 || tramp(i, t, jp) >= 0 {
					continue
				}
				s := i
				if share {
					// The furthest block c >= i before t after which a
					// jump lands within reach.
					c := i
					for lo, hi := i, min(t.order-1, n-1); lo <= hi; {
						mid := (lo + hi) / 2
						if pos[mid+1] <= jp+256 {
							c, lo = mid, mid+1
						} else {
							hi = mid - 1
						}
					}
					for s = c; s > i; s-- {
						if u := order[s]; len(u.tramps) < maxTramps && (u.nsucc() != 1 || termLen(s) == 1) {
							break
						}
					}
				}
				if len(order[s].tramps) >= maxTramps {
					return nil
				}
				order[s].tramps = append(order[s].tramps, t)
				added = true
			}
		}
		if !added {
			break
		}
	}

	out := make([]bpf.RawInstruction, 0, pos[n])
	for i, b := range order {
		out = append(out, b.stmts...)
		jp := len(out)
		switch {
		case b.isCond():
			in := bpf.RawInstruction{Op: b.op, K: b.k}
			for j, t := range b.succ {
				off := pos[t.order] - jp - 1
				if off > 255 {
					off = tramp(i, t, jp) - jp - 1
				}
				if off < 0 || off > 255 {
					return nil
				}
				if j == 0 {
					in.Jt = uint8(off)
				} else {
					in.Jf = uint8(off)
				}
			}
			out = append(out, in)
		case b.isGoto():
			if termLen(i) == 1 {
				out = append(out, bpf.RawInstruction{Op: clsJMP | jmpJA, K: uint32(pos[b.succ[0].order] - jp - 1)})
			}
		default:
			out = append(out, bpf.RawInstruction{Op: b.op, K: b.k})
		}
		for _, t := range b.tramps {
			out = append(out, bpf.RawInstruction{Op: clsJMP | jmpJA, K: uint32(pos[t.order] - len(out) - 1)})
		}
	}
	if len(out) != pos[n] {
		return nil
	}
	return out
}
