package index

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// A summary fed the copied terms of blocks is the summary fed their
// Builders: CopyTerms leaves out nothing AddBlock reads.
func TestCopyTermsSummary(t *testing.T) {
	frame := func(i int) []byte {
		f := make([]byte, 14+20+8)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		ip := f[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], 28)
		copy(ip[12:], []byte{10, 0, byte(i >> 8), byte(i)})
		copy(ip[16:], []byte{192, 168, 1, byte(i % 7)})
		binary.BigEndian.PutUint16(ip[20:], uint16(1024+i))
		binary.BigEndian.PutUint16(ip[22:], 53)
		return f
	}
	var direct, copied Summary
	var b, dst Builder
	for blk := range 5 {
		b.Reset()
		for i := range 300 {
			b.AddPacket(1, frame(blk*300+i))
		}
		if blk == 3 {
			b.AddPacket(1, []byte{1, 2, 3}) // a packet the terms cannot describe
		}
		direct.AddBlock(&b)
		b.CopyTerms(&dst)
		copied.AddBlock(&dst)
	}
	if a, c := direct.Sketch(nil), copied.Sketch(nil); !bytes.Equal(a, c) {
		t.Fatalf("summary from copied terms differs: %d vs %d bytes", len(c), len(a))
	}
}
