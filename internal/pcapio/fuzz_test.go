package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// seedCorpus adds every corpus capture whose name ends in ext, and the
// truncated-header edge cases of the format.
func seedCorpus(f *testing.F, ext string) {
	if ents, err := os.ReadDir(corpusDir); err == nil {
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ext) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(corpusDir, e.Name()))
			// Large seeds make the fuzzer spend minutes minimizing them.
			if err == nil && len(b) <= 8<<10 {
				f.Add(b)
			}
		}
	}
	le := binary.LittleEndian
	if ext == ".pcapng" {
		shb := ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{1, 0, 0, 0}, make([]byte, 8)))
		idb := ngBlock(blockIDB, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		epb := ngBlock(blockEPB, cat(make([]byte, 12), u32(4), u32(4), []byte{1, 2, 3, 4}))
		full := cat(shb, idb, epb, ngBlock(blockSPB, cat(u32(2), []byte{1, 2, 0, 0})))
		for n := 0; n <= len(full); n += 4 {
			f.Add(full[:n])
		}
		return
	}
	full := cat(pcapHeader(le, magicMicro, 65535, 1), pcapRecord(le, 1, 2, 4, 4, []byte{1, 2, 3, 4}))
	for n := 0; n <= len(full); n++ {
		f.Add(full[:n])
	}
	f.Add(cat(pcapHeader(binary.BigEndian, magicNano, 0, 1), pcapRecord(binary.BigEndian, 1, 2, 0xffffffff, 0, nil)))
}

// fuzzRead reads a file with a small record limit, checks the Reader's
// invariants, and writes what it read back out and in again.
func fuzzRead(t *testing.T, b []byte) {
	r, err := NewReaderConfig(bytes.NewReader(b), ReaderConfig{MaxRecordLen: 1 << 20})
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("NewReader error %T %v is not a *ParseError", err, err)
		}
		return
	}
	var pkts []Packet
	for i := 0; i < 10000; i++ {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Next error %T %v is not a *ParseError", err, err)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
			break
		}
		if p.Interface < 0 || p.Interface >= len(r.Interfaces()) || len(p.Data) > len(b) {
			t.Fatalf("packet %d: interface %d of %d, caplen %d", i+1, p.Interface, len(r.Interfaces()), len(p.Data))
		}
		p.Data = bytes.Clone(p.Data)
		pkts = append(pkts, p)
	}
	// Whatever was read must survive a pcapng round trip.
	var out bytes.Buffer
	w, err := NewPcapngWriter(&out, PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range r.Interfaces() {
		in.Snaplen, in.TsResol, in.TsOffset = 0, 9, 0
		if _, err := w.AddInterface(in); err != nil {
			t.Fatal(err)
		}
	}
	var kept []Packet
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatal(err)
			}
			continue // e.g. a timestamp before 1970 after if_tsoffset
		}
		kept = append(kept, p)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, got, err := readAllBytes(out.Bytes())
	if err != nil {
		t.Fatalf("re-reading our own output: %v", err)
	}
	if len(got) != len(kept) {
		t.Fatalf("round trip: %d packets, want %d", len(got), len(kept))
	}
	for i := range got {
		if got[i].Timestamp != kept[i].Timestamp || got[i].OrigLen != kept[i].OrigLen || !bytes.Equal(got[i].Data, kept[i].Data) {
			t.Fatalf("round trip packet %d differs", i+1)
		}
		// Comments come back one by one, but for empty ones (not written);
		// flags come back from EPBs (a Packet Block has none).
		want := slices.DeleteFunc(slices.Clone(kept[i].Comments), func(c string) bool { return c == "" })
		if !slices.Equal(got[i].Comments, want) || got[i].Flags != kept[i].Flags {
			t.Fatalf("round trip packet %d: comments %q flags %#x, want %q %#x", i+1, got[i].Comments, got[i].Flags, want, kept[i].Flags)
		}
	}
}

func FuzzPcapReader(f *testing.F) {
	seedCorpus(f, ".pcap")
	f.Fuzz(fuzzRead)
}

func FuzzPcapngReader(f *testing.F) {
	seedCorpus(f, ".pcapng")
	f.Fuzz(fuzzRead)
}
