package capture

import (
	"testing"

	"golang.org/x/net/bpf"
)

// TestCookedFilter: a program compiled for LINUX_SLL2 moves to the cooked
// socket as libpcap moves it: loads past the header back by 20 (absolute,
// indexed and the IP header length's), the header's protocol, interface
// index and packet type (whole fields) to the kernel's ancillary loads;
// any other read of the header keeps the program out of the kernel.
func TestCookedFilter(t *testing.T) {
	prog := []bpf.RawInstruction{
		{Op: 0x28, K: 0},          // ldh [0]: protocol
		{Op: 0x20, K: 4},          // ld [4]: ifindex
		{Op: 0x30, K: 10},         // ldb [10]: packet type
		{Op: 0x30, K: 29},         // ldb [29]: IPv4 protocol
		{Op: 0xb1, K: 20},         // ldxb 4*([20]&0xf)
		{Op: 0x48, K: 22},         // ldh [x + 22]: destination port
		{Op: 0x20, K: 0xfffff02c}, // ld #rand (ancillary already)
		{Op: 0x15, Jt: 0, Jf: 1, K: 0x35},
		{Op: 0x06, K: 65535},
		{Op: 0x06, K: 0},
	}
	want := []uint32{0xfffff000, 0xfffff008, 0xfffff004, 9, 0, 2, 0xfffff02c, 0x35, 65535, 0}
	out, ok := cookedFilter(prog)
	if !ok {
		t.Fatal("a program of movable loads refused")
	}
	for i := range want {
		if out[i].K != want[i] || out[i].Op != prog[i].Op {
			t.Errorf("instruction %d: %+v, want k %#x", i, out[i], want[i])
		}
	}
	if prog[0].K != 0 {
		t.Error("the input program was modified")
	}
	for _, c := range []struct {
		name string
		ins  bpf.RawInstruction
	}{
		{"the address length, ldb [11]", bpf.RawInstruction{Op: 0x30, K: 11}},
		{"link[11] unoptimized, ldb [x + 0]", bpf.RawInstruction{Op: 0x50, K: 0}},
		{"half the protocol, ldb [0]", bpf.RawInstruction{Op: 0x30, K: 0}},
		{"an ancillary offset as an index, ldb [x + SKF_AD_OFF]", bpf.RawInstruction{Op: 0x50, K: 0xfffff000}},
		{"the header length of a header byte, ldxb 4*([3]&0xf)", bpf.RawInstruction{Op: 0xb1, K: 3}},
	} {
		if _, ok := cookedFilter([]bpf.RawInstruction{c.ins, {Op: 0x06, K: 1}}); ok {
			t.Errorf("%s was moved into the kernel", c.name)
		}
	}
}
