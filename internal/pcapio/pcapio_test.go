package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func pcapHeader(order binary.ByteOrder, magic uint32, snaplen, linkType uint32) []byte {
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], snaplen)
	order.PutUint32(h[20:], linkType)
	return h
}

func pcapRecord(order binary.ByteOrder, sec, sub, caplen, orig uint32, data []byte) []byte {
	h := make([]byte, 16, 16+len(data))
	order.PutUint32(h, sec)
	order.PutUint32(h[4:], sub)
	order.PutUint32(h[8:], caplen)
	order.PutUint32(h[12:], orig)
	return append(h, data...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestPcapHeaderVariants(t *testing.T) {
	data := []byte{1, 2, 3, 4}
	for _, c := range []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		sub   uint32
		want  int64
	}{
		{"le usec", binary.LittleEndian, magicMicro, 5, 7e9 + 5e3},
		{"be usec", binary.BigEndian, magicMicro, 5, 7e9 + 5e3},
		{"le nsec", binary.LittleEndian, magicNano, 5, 7e9 + 5},
		{"be nsec", binary.BigEndian, magicNano, 5, 7e9 + 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			// FCS bits (26-31) in the link-type field are masked off.
			f := cat(pcapHeader(c.order, c.magic, 100, 0x40000001|1<<26), pcapRecord(c.order, 7, c.sub, 4, 60, data))
			r, err := NewReader(bytes.NewReader(f))
			if err != nil {
				t.Fatal(err)
			}
			p, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if p.Timestamp != c.want || p.OrigLen != 60 || p.LinkType != 1 || !bytes.Equal(p.Data, data) {
				t.Errorf("packet %+v", p)
			}
			if in := r.Interfaces()[0]; in.FCSLen != 8 || in.Snaplen != 100 {
				t.Errorf("interface %+v, want FCSLen 8 snaplen 100", in)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("second Next: %v, want io.EOF", err)
			}
		})
	}
}

func TestInvalidSubsecond(t *testing.T) {
	// A microsecond field of 1000000 means the next second.
	le := binary.LittleEndian
	f := cat(pcapHeader(le, magicMicro, 0, 1), pcapRecord(le, 10, 1000000, 0, 0, nil), pcapRecord(le, 10, 1<<31, 0, 0, nil))
	_, pkts, err := readAllBytes(f)
	if err != nil {
		t.Fatal(err)
	}
	if pkts[0].Timestamp != 11e9 || pkts[1].Timestamp != 10e9+(1<<31)*1e3 {
		t.Errorf("timestamps %d %d", pkts[0].Timestamp, pkts[1].Timestamp)
	}
}

func TestCaplenOverSnaplen(t *testing.T) {
	le := binary.LittleEndian
	data := bytes.Repeat([]byte{0xab}, 50)
	f := cat(pcapHeader(le, magicMicro, 20, 1), pcapRecord(le, 1, 0, 50, 30, data), pcapRecord(le, 2, 0, 4, 4, data[:4]))
	_, pkts, err := readAllBytes(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 2 || len(pkts[0].Data) != 20 || pkts[0].OrigLen != 30 || len(pkts[1].Data) != 4 {
		t.Errorf("default: %d packets, first caplen %d orig %d", len(pkts), len(pkts[0].Data), pkts[0].OrigLen)
	}
	r, err := NewReaderConfig(bytes.NewReader(f), ReaderConfig{KeepOversized: true})
	if err != nil {
		t.Fatal(err)
	}
	pkts, err = readAll(r)
	if err != nil || len(pkts) != 2 || len(pkts[0].Data) != 50 {
		t.Errorf("KeepOversized: %v, %d packets", err, len(pkts))
	}
}

func TestReadErrors(t *testing.T) {
	le := binary.LittleEndian
	hdr := pcapHeader(le, magicMicro, 65535, 1)
	rec := pcapRecord(le, 1, 2, 4, 4, []byte{1, 2, 3, 4})
	shb := ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{1, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 8)))
	idb := ngBlock(blockIDB, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	for _, c := range []struct {
		name   string
		file   []byte
		sent   error
		substr string
	}{
		{"empty", nil, io.ErrUnexpectedEOF, "at offset 0"},
		{"bad magic", []byte("GIF89a......................"), ErrUnknownFormat, "unknown magic"},
		{"short header", hdr[:10], io.ErrUnexpectedEOF, "truncated pcap file header"},
		{"version", cat(pcapHeader(le, magicMicro, 0, 1)[:4], []byte{1, 0, 4, 0}, make([]byte, 16)), ErrUnsupportedVersion, "version 1.4"},
		{"reserved link-type bits", pcapHeader(le, magicMicro, 0, 0x00300000), ErrMalformed, "reserved bits"},
		{"huge record", cat(hdr, rec, pcapRecord(le, 1, 2, 0xffffffff, 4, nil)), ErrTooLarge,
			"pcapio: packet 2 at offset 44: record length 4294967295 exceeds limit"},
		{"record past end", cat(hdr, pcapRecord(le, 1, 2, 100<<20, 4, []byte{1, 2})), io.ErrUnexpectedEOF,
			"pcapio: packet 1 at offset 24: truncated record: got 2 of 104857600 bytes"},
		{"short record header", cat(hdr, rec[:7]), io.ErrUnexpectedEOF, "packet 1 at offset 24: truncated record header"},
		{"pcapng huge block", cat(shb, idb, ngHeader(blockEPB, 0xfffffff0)), ErrTooLarge, "block length 4294967280 exceeds limit"},
		{"pcapng block past end", cat(shb, idb, ngHeader(blockEPB, 200<<20), make([]byte, 100)), io.ErrUnexpectedEOF, "truncated block"},
		{"pcapng short block", cat(shb, ngHeader(blockIDB, 8)), ErrMalformed, "too short"},
		{"pcapng odd block", cat(shb, ngHeader(blockIDB, 13)), ErrMalformed, "multiple of 4"},
		{"pcapng trailer", cat(shb, idb[:len(idb)-4], u32(99)), ErrMalformed, "trailer (99)"},
		{"pcapng bom", cat(shb[:8], u32(0x11223344), shb[12:]), ErrMalformed, "byte-order magic"},
		{"pcapng no interface", cat(shb, ngBlock(blockEPB, make([]byte, 20))), ErrMalformed, "undefined interface 0"},
		{"pcapng caplen past block", cat(shb, idb, ngBlock(blockEPB, cat(make([]byte, 12), u32(100), u32(100)))), ErrMalformed, "captured length 100 exceeds block"},
		{"pcapng bad tsresol", cat(shb, ngBlock(blockIDB, cat([]byte{1, 0, 0, 0, 0, 0, 0, 0}, []byte{9, 0, 1, 0, 0x40, 0, 0, 0}))), ErrMalformed, "if_tsresol"},
		{"pcapng idb option overrun", cat(shb, ngBlock(blockIDB, cat([]byte{1, 0, 0, 0, 0, 0, 0, 0}, []byte{2, 0, 0xff, 0}))), ErrMalformed, "option"},
		{"pcapng version", ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{0, 0, 1, 0}, make([]byte, 8))), ErrUnsupportedVersion, "version 0.1"},
		{"pcapng truncated shb", ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{1, 0, 0, 0}, make([]byte, 8)))[:20], io.ErrUnexpectedEOF, "truncated block"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := readAllBytes(c.file)
			if err == nil {
				t.Fatal("no error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("%v is not a *ParseError", err)
			}
			if !errors.Is(err, c.sent) {
				t.Errorf("%v does not wrap %v", err, c.sent)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("%q does not contain %q", err, c.substr)
			}
		})
	}
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func ngHeader(typ, blen uint32) []byte { return cat(u32(typ), u32(blen)) }

func ngBlock(typ uint32, body []byte) []byte {
	n := uint32(12 + len(body))
	return cat(u32(typ), u32(n), body, u32(n))
}

// TestBoundedAllocation: a length field claiming far more than the file
// holds must not make the reader allocate it.
func TestBoundedAllocation(t *testing.T) {
	le := binary.LittleEndian
	files := [][]byte{
		cat(pcapHeader(le, magicMicro, 0, 1), pcapRecord(le, 1, 2, 250<<20, 4, make([]byte, 1000))),
		cat(ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{1, 0, 0, 0}, make([]byte, 8))), ngHeader(blockEPB, 250<<20), make([]byte, 1000)),
	}
	for i, f := range files {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, err := readAllBytes(f)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("file %d: no error", i)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
			t.Errorf("file %d: allocated %d bytes for a %d-byte file", i, d, len(f))
		}
	}
}

func TestPcapngMetadata(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngConfig{Comment: "section comment", Hardware: "hw", OS: "Linux", UserAppl: "packetrecorderd"})
	if err != nil {
		t.Fatal(err)
	}
	eth, err := w.AddInterface(Interface{LinkType: 1, Snaplen: 8, Name: "eth0", Description: "uplink", Comments: []string{"if comment"}, FCSLen: -1})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := w.AddInterface(Interface{LinkType: 101, TsResol: 0x88, Name: "tun0"})
	if err != nil {
		t.Fatal(err)
	}
	pkts := []Packet{
		{Timestamp: 1_700_000_000_123_456_789, OrigLen: 20, LinkType: 1, Interface: eth, Data: bytes.Repeat([]byte{1}, 20), Comments: []string{"first", "second"}, Flags: 1},
		{Timestamp: 1_700_000_001_500_000_000, OrigLen: 3, LinkType: 101, Interface: raw, Data: []byte{0x45, 0, 0}},
	}
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WritePacket(Packet{LinkType: 1, Interface: 7}); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("unknown interface: %v", err)
	}
	if err := w.WritePacket(Packet{LinkType: 105, Interface: eth}); !errors.Is(err, ErrInvalidPacket) {
		t.Errorf("wrong link type: %v", err)
	}
	st := InterfaceStats{Timestamp: 1_700_000_002e9, Received: 10, Dropped: 3, OSDropped: 2, Has: StatReceived | StatDropped | StatOSDropped}
	if err := w.WriteStats(eth, st); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()

	r, got, err := readAllBytes(file)
	if err != nil {
		t.Fatal(err)
	}
	sec := r.Sections()
	if len(sec) != 1 || sec[0].Hardware != "hw" || sec[0].OS != "Linux" || sec[0].UserAppl != "packetrecorderd" || !slices.Equal(sec[0].Comments, []string{"section comment"}) {
		t.Errorf("section %+v", sec)
	}
	ifs := r.Interfaces()
	if len(ifs) != 2 || ifs[0].Name != "eth0" || ifs[0].Description != "uplink" || ifs[0].Snaplen != 8 || ifs[0].TsResol != 9 ||
		!slices.Equal(ifs[0].Comments, []string{"if comment"}) || ifs[1].TsResol != 0x88 || ifs[1].LinkType != 101 {
		t.Errorf("interfaces %+v", ifs)
	}
	if s := ifs[0].Stats; s == nil || s.Received != 10 || s.Dropped != 3 || s.OSDropped != 2 || s.Timestamp != st.Timestamp || s.Has != st.Has {
		t.Errorf("stats %+v", s)
	}
	if len(got) != 2 || len(got[0].Data) != 8 || got[0].OrigLen != 20 || got[0].Timestamp != pkts[0].Timestamp ||
		!slices.Equal(got[0].Comments, []string{"first", "second"}) || got[0].Flags != 1 {
		t.Errorf("packet 1 %+v", got[0])
	}
	// 2^-8 s resolution keeps 1.5 s exactly.
	if got[1].Timestamp != pkts[1].Timestamp || got[1].Interface != 1 || got[1].LinkType != 101 {
		t.Errorf("packet 2 %+v", got[1])
	}

	// Independent readers: capinfos counts packets; tshark sees the comment.
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.pcapng")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("capinfos"); err == nil {
		out, err := exec.Command("capinfos", "-c", "-M", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Number of packets:   2") {
			t.Errorf("capinfos: %v\n%s", err, out)
		}
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.comment", "-e", "frame.interface_name").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "first,second\teth0") || !strings.Contains(string(out), "tun0") {
			t.Errorf("tshark: %v\n%s", err, out)
		}
	}
}

func TestPcapWriterErrors(t *testing.T) {
	w, err := NewPcapWriter(io.Discard, 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Packet{
		{LinkType: 113},
		{LinkType: 1, Timestamp: -1},
		{LinkType: 1, Timestamp: (1 << 32) * 1e9},
		{LinkType: 1, OrigLen: -1},
	} {
		if err := w.WritePacket(p); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("WritePacket(%+v) = %v, want ErrInvalidPacket", p, err)
		}
	}
	if _, err := NewPcapWriter(io.Discard, 0x00300000, 0, false); err == nil {
		t.Error("reserved link type accepted")
	}
}

func TestMultiSectionMixedOrder(t *testing.T) {
	// gopacket's conformance file with a big- and a little-endian section.
	requireCorpus(t)
	r, pkts, err := readAllBytes(readFile(t, "gopacket_pcapng-be_test202.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	secs := r.Sections()
	if len(secs) != 3 || len(pkts) != 8 {
		t.Fatalf("%d sections, %d packets", len(secs), len(pkts))
	}
	orders := map[bool]bool{}
	for _, s := range secs {
		orders[s.BigEndian] = true
	}
	if len(orders) != 2 {
		t.Errorf("sections all of one byte order: %+v", secs)
	}
	for i, p := range pkts {
		in := r.Interfaces()[p.Interface]
		if in.Section < 0 || in.Section >= len(secs) || p.LinkType != in.LinkType {
			t.Errorf("packet %d: interface %+v", i+1, in)
		}
	}
}

// TestInterfaceDescriptionsBounded: a pcapng file of nothing but
// interface descriptions (20 bytes each, a few KB compressed for a
// million) is refused past MaxInterfaces, where it used to take memory
// without limit; one with as many as the limit reads. The same for
// sections.
func TestInterfaceDescriptionsBounded(t *testing.T) {
	idb := ngIDB()
	for _, c := range []struct {
		extra   int
		refused bool
	}{{0, false}, {1, true}} {
		f := cat(ngSHB(), bytes.Repeat(idb, MaxInterfaces+c.extra), ngEPB(1))
		r, err := NewReader(bytes.NewReader(f))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Next()
		if got := err != nil; got != c.refused {
			t.Fatalf("%d interfaces: %v", MaxInterfaces+c.extra, err)
		}
		if c.refused && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "interfaces")) {
			t.Errorf("%d interfaces: %v, want ErrMalformed naming the interfaces", MaxInterfaces+c.extra, err)
		}
		if !c.refused && len(r.Interfaces()) != MaxInterfaces {
			t.Errorf("%d interfaces read", len(r.Interfaces()))
		}
	}
	r, err := NewReader(bytes.NewReader(bytes.Repeat(ngSHB(), MaxSections+1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "sections") {
		t.Errorf("%d sections: %v, want ErrMalformed naming the sections", MaxSections+1, err)
	}
}
