package filter

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Style selects one of tcpdump's program dump formats.
type Style int

const (
	StyleD   Style = iota // tcpdump -d: one disassembled instruction per line
	StyleDD               // tcpdump -dd: C array initializers
	StyleDDD              // tcpdump -ddd: the count, then "code jt jf k" in decimal
)

// Format renders insns exactly as tcpdump -d, -dd or -ddd print them
// (libpcap's bpf_dump and bpf_image), one instruction per line, each line
// ending in a newline.
func Format(insns []bpf.RawInstruction, style Style) string {
	var sb strings.Builder
	switch style {
	case StyleDDD:
		fmt.Fprintf(&sb, "%d\n", len(insns))
		for _, in := range insns {
			fmt.Fprintf(&sb, "%d %d %d %d\n", in.Op, in.Jt, in.Jf, in.K)
		}
	case StyleDD:
		for _, in := range insns {
			fmt.Fprintf(&sb, "{ 0x%x, %d, %d, 0x%08x },\n", in.Op, in.Jt, in.Jf, in.K)
		}
	default:
		for i, in := range insns {
			sb.WriteString(image(in, i))
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}

// skfNames are the symbolic names bpf_image uses for Linux's ancillary
// data offsets (SKF_AD_OFF + n).
var skfNames = map[uint32]string{
	0: "proto", 4: "type", 8: "ifidx", 12: "nla", 16: "nlan", 20: "mark",
	24: "queue", 28: "hatype", 32: "rxhash", 36: "cpu", 40: "xor_x",
	44: "vlan_tci", 48: "vlanp", 52: "poff", 56: "random", 60: "vlan_tpid",
}

const skfADOff = 0xfffff000 // SKF_AD_OFF (-0x1000)

func absOperand(k uint32) string {
	if k >= skfADOff && k < skfADOff+64 {
		if s, ok := skfNames[k-skfADOff]; ok {
			return "[" + s + "]"
		}
	}
	return fmt.Sprintf("[%d]", int32(k))
}

// image disassembles one instruction as libpcap's bpf_image.
func image(in bpf.RawInstruction, n int) string {
	k := in.K
	sk := int32(k)
	var op, operand string
	switch in.Op {
	default:
		op, operand = "unimp", fmt.Sprintf("0x%x", in.Op)
	case clsRET | srcK:
		op, operand = "ret", fmt.Sprintf("#%d", sk)
	case clsRET | 0x10:
		op = "ret"
	case clsLD | szW | modeABS:
		op, operand = "ld", absOperand(k)
	case clsLD | szH | modeABS:
		op, operand = "ldh", absOperand(k)
	case clsLD | szB | modeABS:
		op, operand = "ldb", absOperand(k)
	case clsLD | szW | modeLEN:
		op, operand = "ld", "#pktlen"
	case clsLD | szW | modeIND:
		op, operand = "ld", fmt.Sprintf("[x + %d]", sk)
	case clsLD | szH | modeIND:
		op, operand = "ldh", fmt.Sprintf("[x + %d]", sk)
	case clsLD | szB | modeIND:
		op, operand = "ldb", fmt.Sprintf("[x + %d]", sk)
	case clsLD | modeIMM:
		op, operand = "ld", fmt.Sprintf("#0x%x", k)
	case clsLDX | modeIMM:
		op, operand = "ldx", fmt.Sprintf("#0x%x", k)
	case clsLDX | szB | modeMSH:
		op, operand = "ldxb", fmt.Sprintf("4*([%d]&0xf)", sk)
	case clsLD | modeMEM:
		op, operand = "ld", fmt.Sprintf("M[%d]", sk)
	case clsLDX | modeMEM:
		op, operand = "ldx", fmt.Sprintf("M[%d]", sk)
	case clsST:
		op, operand = "st", fmt.Sprintf("M[%d]", sk)
	case clsSTX:
		op, operand = "stx", fmt.Sprintf("M[%d]", sk)
	case clsJMP | jmpJA:
		op, operand = "ja", fmt.Sprintf("%d", int32(uint32(n)+1+k))
	case clsJMP | jmpJGT | srcK:
		op, operand = "jgt", fmt.Sprintf("#0x%x", k)
	case clsJMP | jmpJGE | srcK:
		op, operand = "jge", fmt.Sprintf("#0x%x", k)
	case clsJMP | jmpJEQ | srcK:
		op, operand = "jeq", fmt.Sprintf("#0x%x", k)
	case clsJMP | jmpJSET | srcK:
		op, operand = "jset", fmt.Sprintf("#0x%x", k)
	case clsJMP | jmpJGT | srcX:
		op, operand = "jgt", "x"
	case clsJMP | jmpJGE | srcX:
		op, operand = "jge", "x"
	case clsJMP | jmpJEQ | srcX:
		op, operand = "jeq", "x"
	case clsJMP | jmpJSET | srcX:
		op, operand = "jset", "x"
	case clsALU | aluNEG:
		op = "neg"
	case clsMISC | miscTAX:
		op = "tax"
	case clsMISC | miscTXA:
		op = "txa"
	}
	if in.Op&0x07 == clsALU && in.Op != clsALU|aluNEG {
		names := map[uint16]string{aluADD: "add", aluSUB: "sub", aluMUL: "mul", aluDIV: "div",
			aluMOD: "mod", aluAND: "and", aluOR: "or", aluXOR: "xor", aluLSH: "lsh", aluRSH: "rsh"}
		if name, ok := names[in.Op&0xf0]; ok && in.Op&^0xf8 == clsALU {
			op = name
			switch {
			case in.Op&srcX != 0:
				operand = "x"
			case in.Op&0xf0 == aluAND || in.Op&0xf0 == aluOR || in.Op&0xf0 == aluXOR:
				operand = fmt.Sprintf("#0x%x", k)
			default:
				operand = fmt.Sprintf("#%d", sk)
			}
		}
	}
	if in.Op&0x07 == clsJMP && in.Op&0xf0 != jmpJA {
		return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", n, op, operand, n+1+int(in.Jt), n+1+int(in.Jf))
	}
	return fmt.Sprintf("(%03d) %-8s %s", n, op, operand)
}
