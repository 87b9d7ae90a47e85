package filter

import (
	"errors"

	"golang.org/x/net/bpf"
)

// ErrRejectsAll is Compile's error for an expression no packet can
// match, libpcap's "expression rejects all packets": for a caller that
// combines expressions, an answer of no packets rather than a mistake.
var ErrRejectsAll = errors.New("filter: expression rejects all packets")

// rejectsAll reports whether no packet can reach an accepting return,
// the condition under which libpcap's optimizer reduces a program to
// "ret #0" and pcap_compile fails with "expression rejects all packets".
//
// The program is explored path by path with value numbering in the
// style of libpcap's optimizer: equal loads get equal value numbers,
// constants are folded, and a conditional jump is decided only when
// libpcap's optimizer could decide it too: both operands are constants,
// the same test on the same value was already taken on the path, or the
// value is already known to equal another constant. Packet loads are
// assumed to succeed. The search is bounded; when the bound is hit the
// program is assumed to accept something.
func rejectsAll(insns []bpf.RawInstruction) bool {
	a := &rejectAnalysis{insns: insns, vns: map[vnKey]int{}, budget: 200000}
	// As in libpcap's optimizer, the registers' initial values are
	// unknown.
	var st absState
	st.a = a.vn(vnKey{op: vnUnknown, k: 0})
	st.x = a.vn(vnKey{op: vnUnknown, k: 1})
	for i := range st.m {
		st.m[i] = a.vn(vnKey{op: vnUnknown, k: 2 + uint32(i)})
	}
	found, complete := a.explore(0, st)
	return complete && !found
}

// vnKey identifies a value: an operation and its operands' value numbers
// (or a constant).
type vnKey struct {
	op   uint16 // instruction code, or one of the pseudo-codes below
	k    uint32
	l, r int
}

const (
	vnConst   = 0xffff // k is the constant
	vnUnknown = 0xfffe // an unknown initial register value
)

// fact is a test taken on the current path; facts form a linked list
// from the most recent one back to the root.
type fact struct {
	op      uint16 // jmpJEQ, jmpJGT, jmpJGE, jmpJSET
	v, w    int    // tested value and operand value numbers
	outcome bool
	prev    *fact
}

type absState struct {
	a, x  int
	m     [memWords]int
	facts *fact
}

type rejectAnalysis struct {
	insns  []bpf.RawInstruction
	vns    map[vnKey]int
	keys   []vnKey // keys[v] is the definition of value number v
	consts map[int]uint32
	budget int
}

func (r *rejectAnalysis) vn(k vnKey) int {
	if v, ok := r.vns[k]; ok {
		return v
	}
	v := len(r.keys)
	r.vns[k] = v
	r.keys = append(r.keys, k)
	if k.op == vnConst {
		if r.consts == nil {
			r.consts = map[int]uint32{}
		}
		r.consts[v] = k.k
	}
	return v
}

func (r *rejectAnalysis) constVN(c uint32) int { return r.vn(vnKey{op: vnConst, k: c}) }

func (r *rejectAnalysis) constOf(v int) (uint32, bool) {
	c, ok := r.consts[v]
	return c, ok
}

// alu folds or numbers an ALU operation. ok is false when the
// operation certainly fails (division by a zero constant).
func (r *rejectAnalysis) alu(op uint16, a, b int) (int, bool) {
	ca, aConst := r.constOf(a)
	cb, bConst := r.constOf(b)
	if aConst && bConst {
		switch op {
		case aluADD:
			return r.constVN(ca + cb), true
		case aluSUB:
			return r.constVN(ca - cb), true
		case aluMUL:
			return r.constVN(ca * cb), true
		case aluDIV:
			if cb == 0 {
				return 0, false
			}
			return r.constVN(ca / cb), true
		case aluMOD:
			if cb == 0 {
				return 0, false
			}
			return r.constVN(ca % cb), true
		case aluAND:
			return r.constVN(ca & cb), true
		case aluOR:
			return r.constVN(ca | cb), true
		case aluXOR:
			return r.constVN(ca ^ cb), true
		case aluLSH:
			if cb >= 32 {
				return r.constVN(0), true
			}
			return r.constVN(ca << cb), true
		case aluRSH:
			if cb >= 32 {
				return r.constVN(0), true
			}
			return r.constVN(ca >> cb), true
		case aluNEG:
			return r.constVN(-ca), true
		}
	}
	if bConst && cb == 0 && (op == aluDIV || op == aluMOD) {
		return 0, false
	}
	return r.vn(vnKey{op: clsALU | op, l: a, r: b}), true
}

// explore walks the program from pc; it returns whether an accepting
// return is reachable and whether the search completed within budget.
func (r *rejectAnalysis) explore(pc int, st absState) (found, complete bool) {
	for pc < len(r.insns) {
		r.budget--
		if r.budget < 0 {
			return false, false
		}
		in := r.insns[pc]
		switch in.Op & 0x07 {
		case clsRET:
			if in.Op == clsRET|srcK {
				return in.K != 0, true
			}
			c, ok := r.constOf(st.a)
			return !ok || c != 0, true
		case clsLD, clsLDX:
			var v int
			switch in.Op & 0xe0 {
			case modeIMM:
				v = r.constVN(in.K)
			case modeABS:
				v = r.vn(vnKey{op: in.Op, k: in.K})
			case modeIND:
				v = r.vn(vnKey{op: in.Op, k: in.K, l: st.x})
			case modeMEM:
				v = st.m[in.K&(memWords-1)]
			case modeLEN:
				v = r.vn(vnKey{op: in.Op &^ 0x07})
			case modeMSH:
				v = r.vn(vnKey{op: in.Op, k: in.K})
			}
			if in.Op&0x07 == clsLD {
				st.a = v
			} else {
				st.x = v
			}
		case clsST:
			st.m[in.K&(memWords-1)] = st.a
		case clsSTX:
			st.m[in.K&(memWords-1)] = st.x
		case clsMISC:
			if in.Op&0xf8 == miscTXA {
				st.a = st.x
			} else {
				st.x = st.a
			}
		case clsALU:
			b := st.x
			if in.Op&srcX == 0 {
				b = r.constVN(in.K)
			}
			v, ok := r.alu(in.Op&0xf0, st.a, b)
			if !ok {
				return false, true
			}
			st.a = v
		case clsJMP:
			op := in.Op & 0xf0
			if op == jmpJA {
				pc += 1 + int(in.K)
				continue
			}
			v, w := st.a, st.x
			if in.Op&srcX == 0 {
				w = r.constVN(in.K)
			}
			negate := false
			v, w, op, negate = r.normalize(v, w, op)
			outcome, known := r.decide(st.facts, op, v, w)
			if known {
				if outcome != negate {
					pc += 1 + int(in.Jt)
				} else {
					pc += 1 + int(in.Jf)
				}
				continue
			}
			// Explore the true branch first, then the false one.
			for _, o := range []bool{true, false} {
				next := st
				next.facts = &fact{op, v, w, o, st.facts}
				target := pc + 1 + int(in.Jf)
				if o != negate {
					target = pc + 1 + int(in.Jt)
				}
				f, c := r.explore(target, next)
				if f || !c {
					return f, c
				}
			}
			return false, true
		}
		pc++
	}
	return false, true
}

// normalize rewrites a test into the form libpcap's optimizer compares
// tests in: "a - b == 0" becomes "a == b", "a & k == 0" becomes "not
// (a jset k)".
func (r *rejectAnalysis) normalize(v, w int, op uint16) (int, int, uint16, bool) {
	if op != jmpJEQ {
		return v, w, op, false
	}
	c, ok := r.constOf(w)
	if !ok || c != 0 {
		return v, w, op, false
	}
	k := r.keys[v]
	if k.op&0x07 == clsALU && k.op != vnConst {
		switch k.op & 0xf0 {
		case aluSUB:
			return k.l, k.r, jmpJEQ, false
		case aluAND:
			if _, isConst := r.constOf(k.r); isConst {
				return k.l, k.r, jmpJSET, true
			}
		}
	}
	return v, w, op, false
}

// decide evaluates a test from constants or from earlier tests on the
// path.
func (r *rejectAnalysis) decide(facts *fact, op uint16, v, w int) (bool, bool) {
	cv, vConst := r.constOf(v)
	cw, wConst := r.constOf(w)
	if vConst && wConst {
		switch op {
		case jmpJEQ:
			return cv == cw, true
		case jmpJGT:
			return cv > cw, true
		case jmpJGE:
			return cv >= cw, true
		case jmpJSET:
			return cv&cw != 0, true
		}
	}
	for f := facts; f != nil; f = f.prev {
		r.budget--
		if f.v != v {
			continue
		}
		if f.op == op && f.w == w {
			return f.outcome, true
		}
		if op == jmpJEQ && f.op == jmpJEQ && f.outcome && wConst {
			if c, ok := r.constOf(f.w); ok && c != cw {
				return false, true
			}
		}
	}
	return false, false
}
