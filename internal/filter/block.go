package filter

import "golang.org/x/net/bpf"

// Classic BPF opcode fields (the values of <pcap/bpf.h>).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	aluADD = 0x00
	aluSUB = 0x10
	aluMUL = 0x20
	aluDIV = 0x30
	aluOR  = 0x40
	aluAND = 0x50
	aluLSH = 0x60
	aluRSH = 0x70
	aluNEG = 0x80
	aluMOD = 0x90
	aluXOR = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	srcK = 0x00
	srcX = 0x08

	miscTAX = 0x00
	miscTXA = 0x80

	memWords = 16 // BPF_MEMWORDS: scratch memory slots
)

// stmt is one straight-line instruction of a block. Statements that are
// jumps local to their block (protochain, geneve) point at their
// targets with jt/jf.
type stmt struct {
	code   uint16
	k      uint32
	jt, jf *stmt
}

// block is a basic block: statements followed by one conditional jump
// (or a return). It mirrors libpcap's struct block, including the
// "sense" trick: while an expression is being built, the unresolved
// exits of its blocks are chained through the jt or jf field (whichever
// sense says is still open), and head is the entry block.
type block struct {
	stmts  []*stmt
	code   uint16
	k      uint32
	jt, jf *block
	sense  bool
	head   *block

	// layout state
	mark           int
	offset         int
	longjt, longjf int
}

func newBlock(code uint16, k uint32, stmts ...*stmt) *block {
	b := &block{code: code, k: k, stmts: stmts}
	b.head = b
	return b
}

func newStmt(code uint16, k uint32) *stmt { return &stmt{code: code, k: k} }

// backpatch resolves every open exit on list to target.
func backpatch(list, target *block) {
	for list != nil {
		var next *block
		if !list.sense {
			next = list.jt
			list.jt = target
		} else {
			next = list.jf
			list.jf = target
		}
		list = next
	}
}

// merge appends the exit list b1 to the exit list b0.
func merge(b0, b1 *block) {
	p := &b0
	for *p != nil {
		if !(*p).sense {
			p = &(*p).jt
		} else {
			p = &(*p).jf
		}
	}
	*p = b1
}

// genAnd makes b1 the expression "b0 and b1" (b0 is evaluated first).
func genAnd(b0, b1 *block) {
	backpatch(b0, b1.head)
	b0.sense = !b0.sense
	b1.sense = !b1.sense
	merge(b1, b0)
	b1.sense = !b1.sense
	b1.head = b0.head
}

// genOr makes b1 the expression "b0 or b1".
func genOr(b0, b1 *block) {
	b0.sense = !b0.sense
	backpatch(b0, b1.head)
	b0.sense = !b0.sense
	merge(b1, b0)
	b1.head = b0.head
}

// genNot negates the expression b.
func genNot(b *block) { b.sense = !b.sense }

// layout converts the flow graph rooted at root into a BPF program, as
// libpcap's icode_to_fcode does for unoptimized code: blocks are placed
// in reverse post-order of a depth-first walk that visits the false
// branch first, and conditional jumps whose offset exceeds 255 get an
// extra unconditional jump after them (the layout is retried until every
// branch fits). libpcap starts over at the first branch found too long;
// this layout marks every branch too long in a pass before it starts
// over, which ends with the same branches marked (a branch only gets
// longer as others are marked) in a few passes instead of one per long
// branch.
func layout(root *block) ([]bpf.RawInstruction, error) {
	markGen := 0
	for {
		markGen++
		n := countInsns(root, markGen)
		if n > maxProgramInstructions {
			return nil, errorf("expression too complex (more than %d instructions)", maxProgramInstructions)
		}
		prog := make([]bpf.RawInstruction, n)
		markGen++
		tail := n
		var long []*int
		if err := convertBlock(root, markGen, prog, &tail, &long); err != nil {
			return nil, err
		}
		if len(long) == 0 {
			return prog, nil
		}
		for _, l := range long {
			*l = 1
		}
	}
}

func countInsns(b *block, mark int) int {
	if b == nil || b.mark == mark {
		return 0
	}
	b.mark = mark
	return countInsns(b.jt, mark) + countInsns(b.jf, mark) + len(b.stmts) + 1 + b.longjt + b.longjf
}

// convertBlock places b (after its successors) at the end of the free
// space prog[:*tail]. A branch found to need a long jump for which b has
// no room yet is added to long (its longjt or longjf); the caller then
// makes room and starts over.
func convertBlock(b *block, mark int, prog []bpf.RawInstruction, tail *int, long *[]*int) error {
	if b == nil || b.mark == mark {
		return nil
	}
	b.mark = mark
	if err := convertBlock(b.jf, mark, prog, tail, long); err != nil {
		return err
	}
	if err := convertBlock(b.jt, mark, prog, tail, long); err != nil {
		return err
	}
	slen := len(b.stmts)
	*tail -= slen + 1 + b.longjt + b.longjf
	b.offset = *tail
	dst := prog[b.offset:]
	for i, s := range b.stmts {
		dst[i] = bpf.RawInstruction{Op: s.code, K: s.k}
		if s.code&0x07 != clsJMP || s.code == clsJMP|jmpJA || i == slen-2 {
			continue
		}
		// Block-local conditional jump: resolve jt/jf to positions
		// within this block.
		jt, jf := -1, -1
		for j, t := range b.stmts {
			if t == s.jt {
				jt = j - i - 1
			}
			if t == s.jf {
				jf = j - i - 1
			}
		}
		if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
			return errorf("internal error: bad block-local jump")
		}
		dst[i].Jt, dst[i].Jf = uint8(jt), uint8(jf)
	}
	ins := &dst[slen]
	ins.Op, ins.K = b.code, b.k
	if b.jt != nil {
		extra := 0
		// branch sets the jt or jf field of ins to reach target. A
		// branch too far for 8 bits goes through a "ja" placed after
		// the instruction; the first time one is found, the block
		// needs room for it (longjt or longjf), which the caller
		// makes before it starts over.
		branch := func(target *block, reserved *int, field *uint8) {
			off := target.offset - (b.offset + slen) - 1
			if off < 256 {
				*field = uint8(off)
				return
			}
			if *reserved == 0 {
				*long = append(*long, reserved)
				return
			}
			*field = uint8(extra)
			extra++
			dst[slen+extra] = bpf.RawInstruction{Op: clsJMP | jmpJA, K: uint32(off - extra)}
		}
		branch(b.jt, &b.longjt, &ins.Jt)
		branch(b.jf, &b.longjf, &ins.Jf)
	}
	return nil
}
