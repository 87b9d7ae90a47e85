package pcapio

import (
	"bytes"
	"io"
	"testing"
)

const benchPackets = 100000

func benchPacketsList() []Packet {
	data := bytes.Repeat([]byte{0x45}, 128)
	pkts := make([]Packet, benchPackets)
	for i := range pkts {
		pkts[i] = Packet{Timestamp: 1_700_000_000e9 + int64(i)*1000, OrigLen: 1500, LinkType: 1, Data: data}
	}
	return pkts
}

// benchWriter returns a pcapng writer with one Ethernet interface, or a
// nanosecond pcap writer, writing to out.
func benchWriter(b *testing.B, out io.Writer, ng bool) PacketWriter {
	if ng {
		nw, err := NewPcapngWriter(out, PcapngConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nw.AddInterface(Interface{LinkType: 1}); err != nil {
			b.Fatal(err)
		}
		return nw
	}
	pw, err := NewPcapWriter(out, 1, 0, true)
	if err != nil {
		b.Fatal(err)
	}
	return pw
}

func benchFile(b *testing.B, ng bool) []byte {
	var buf bytes.Buffer
	w := benchWriter(b, &buf, ng)
	for _, p := range benchPacketsList() {
		if err := w.WritePacket(p); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func benchRead(b *testing.B, ng bool) {
	file := benchFile(b, ng)
	br := bytes.NewReader(file)
	r, err := NewReader(br)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(file) / benchPackets))
	for b.Loop() {
		_, err := r.Next()
		if err == io.EOF {
			br.Reset(file)
			if r, err = NewReader(br); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

func benchWrite(b *testing.B, ng bool) {
	w := benchWriter(b, io.Discard, ng)
	pkts := benchPacketsList()
	b.ReportAllocs()
	b.SetBytes(128 + 16)
	i := 0
	for b.Loop() {
		if err := w.WritePacket(pkts[i%len(pkts)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

func BenchmarkReadPcap(b *testing.B)    { benchRead(b, false) }
func BenchmarkReadPcapng(b *testing.B)  { benchRead(b, true) }
func BenchmarkWritePcap(b *testing.B)   { benchWrite(b, false) }
func BenchmarkWritePcapng(b *testing.B) { benchWrite(b, true) }

func TestNoAllocsPerPacket(t *testing.T) {
	for _, ng := range []bool{false, true} {
		file := benchFile(&testing.B{}, ng)
		r, err := NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("pcapng=%v: %v allocations per Next", ng, n)
		}
	}
	pkts := benchPacketsList()[:1]
	pw, _ := NewPcapWriter(io.Discard, 1, 0, true)
	nw, _ := NewPcapngWriter(io.Discard, PcapngConfig{})
	if _, err := nw.AddInterface(Interface{LinkType: 1}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []PacketWriter{pw, nw} {
		if n := testing.AllocsPerRun(1000, func() {
			if err := w.WritePacket(pkts[0]); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%T: %v allocations per WritePacket", w, n)
		}
	}
}
