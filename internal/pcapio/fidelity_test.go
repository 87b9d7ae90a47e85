package pcapio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// run runs a command and returns its standard output, failing the test
// with its standard error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestPacketCommentsEditcap: comments that editcap adds to a corpus capture
// are seen on the right packets, and survive a round trip through
// PcapngWriter as tshark sees them.
func TestPacketCommentsEditcap(t *testing.T) {
	for _, tool := range []string{"editcap", "tshark"} {
		testkit.RequireTool(t, tool)
	}
	requireCorpus(t)
	dir := t.TempDir()
	src := filepath.Join(corpusDir, "zeek_icmp_5-pings.pcap") // 10 packets, no comments
	one, two := filepath.Join(dir, "one.pcapng"), filepath.Join(dir, "two.pcapng")
	// editcap 4.0 keeps only the last -a of a frame within one run (it
	// replaces), but adds to the comments already in the file: two runs
	// give packet 2 two comments.
	run(t, "editcap", "-F", "pcapng", "-a", "2:first comment", "-a", "5:x", src, one)
	run(t, "editcap", "-a", "2:second, with a comma", one, two)
	in, err := os.ReadFile(two)
	if err != nil {
		t.Fatal(err)
	}

	r, pkts, err := readAllBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 10 {
		t.Fatalf("%d packets, want 10", len(pkts))
	}
	want := map[int][]string{2: {"first comment", "second, with a comma"}, 5: {"x"}}
	for i, p := range pkts {
		if w := want[i+1]; !slices.Equal(p.Comments, w) {
			t.Errorf("packet %d: comments %q, want %q", i+1, p.Comments, w)
		}
	}

	// Write what was read with our writer, interfaces as they were.
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range r.Interfaces() {
		if _, err := w.AddInterface(in); err != nil {
			t.Fatal(err)
		}
	}
	writeAll(t, w, pkts)
	out := filepath.Join(dir, "out.pcapng")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	// tshark joins a frame's comments with "," (so the comma inside one is
	// ambiguous here; the boundaries are checked with our reader below).
	tshark := func(path string) string {
		return run(t, "tshark", "-r", path, "-T", "fields",
			"-e", "frame.number", "-e", "frame.comment", "-e", "frame.time_epoch", "-e", "frame.len")
	}
	wantOut, gotOut := tshark(two), tshark(out)
	if gotOut != wantOut {
		t.Errorf("tshark on our file:\n%s\non editcap's:\n%s", gotOut, wantOut)
	}
	lines := strings.Split(wantOut, "\n")
	for i, want := range map[int]string{1: "1\t\t", 2: "2\tfirst comment,second, with a comma\t", 5: "5\tx\t"} {
		if !strings.HasPrefix(lines[i-1], want) {
			t.Errorf("tshark line for packet %d %q, want it to start %q", i, lines[i-1], want)
		}
	}
	// The comments are the packets' own: reading on does not change them.
	r2, err := NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]string
	for {
		p, err := r2.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, p.Comments)
	}
	for i := range pkts {
		if !slices.Equal(kept[i], want[i+1]) {
			t.Errorf("kept comments of packet %d: %q, want %q", i+1, kept[i], want[i+1])
		}
	}
}

// ngOpt encodes one little-endian pcapng option, padded.
func ngOpt(code uint16, val []byte) []byte {
	b := binary.LittleEndian.AppendUint16(nil, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	return append(b, make([]byte, (4-len(val)%4)%4)...)
}

func ngSHB() []byte {
	return ngBlock(blockSHB, cat(u32(byteOrderMagic), []byte{1, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 8)))
}

// ngIDB is an Ethernet interface with the given options (already encoded).
func ngIDB(opts ...[]byte) []byte {
	body := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if len(opts) > 0 {
		body = cat(body, cat(opts...), ngOpt(optEndOfOpt, nil))
	}
	return ngBlock(blockIDB, body)
}

// ngEPB is an Enhanced Packet Block on interface 0 with 4 bytes of data.
func ngEPB(units uint64, opts ...[]byte) []byte {
	body := cat(u32(0), u32(uint32(units>>32)), u32(uint32(units)), u32(4), u32(4), []byte{1, 2, 3, 4})
	if len(opts) > 0 {
		body = cat(body, cat(opts...), ngOpt(optEndOfOpt, nil))
	}
	return ngBlock(blockEPB, body)
}

// TestPacketBlockComments: opt_comment of an EPB among other options
// (epb_flags, epb_hash, a custom option), and of the obsolete Packet Block.
func TestPacketBlockComments(t *testing.T) {
	epb := ngEPB(1e6,
		ngOpt(optComment, []byte("one")),
		ngOpt(2, u32(0x1)),                          // epb_flags: inbound
		ngOpt(3, []byte{2, 0xde, 0xad, 0xbe, 0xef}), // epb_hash
		ngOpt(2988, cat(u32(32473), []byte("x"))),   // custom option
		ngOpt(optComment, []byte("two")),
		ngOpt(optComment, nil), // an empty comment is still one
	)
	pb := ngBlock(blockPB, cat([]byte{0, 0, 7, 0}, u32(0), u32(2e6), u32(4), u32(60), []byte{5, 6, 7, 8},
		ngOpt(optComment, []byte("old")), ngOpt(2, u32(0x2)), ngOpt(optEndOfOpt, nil)))
	r, pkts, err := readAllBytes(cat(ngSHB(), ngIDB(), epb, pb, ngEPB(3e6)))
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 3 {
		t.Fatalf("%d packets", len(pkts))
	}
	if !slices.Equal(pkts[0].Comments, []string{"one", "two", ""}) || pkts[0].Flags != 1 || pkts[0].Timestamp != 1e9 {
		t.Errorf("EPB: comments %q flags %#x ts %d", pkts[0].Comments, pkts[0].Flags, pkts[0].Timestamp)
	}
	// The Packet Block's pack_flags are not epb_flags: left out.
	if !slices.Equal(pkts[1].Comments, []string{"old"}) || pkts[1].Flags != 0 || pkts[1].OrigLen != 60 || !bytes.Equal(pkts[1].Data, []byte{5, 6, 7, 8}) {
		t.Errorf("PB: %+v", pkts[1])
	}
	if pkts[2].Comments != nil {
		t.Errorf("EPB without options: comments %q", pkts[2].Comments)
	}

	// Written back, each comment is an option of its own again.
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(r.Interfaces()[0]); err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, pkts)
	_, got, err := readAllBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	// The empty comment is left out, as empty strings are by the writer.
	if !slices.Equal(got[0].Comments, []string{"one", "two"}) || !slices.Equal(got[1].Comments, []string{"old"}) || got[2].Comments != nil {
		t.Errorf("round trip comments %q %q %q", got[0].Comments, got[1].Comments, got[2].Comments)
	}
}

// TestWriteCommentsNoAllocs: writing packets with comments and flags
// reuses the writer's option buffer.
func TestWriteCommentsNoAllocs(t *testing.T) {
	w, err := NewPcapngWriter(io.Discard, PcapngConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(Interface{LinkType: 1}); err != nil {
		t.Fatal(err)
	}
	p := Packet{Timestamp: 1, LinkType: 1, OrigLen: 4, Data: []byte{1, 2, 3, 4}, Flags: 1, Comments: []string{"a comment", "another"}}
	if n := testing.AllocsPerRun(1000, func() {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per WritePacket with comments", n)
	}
}

// TestTimestampRange: a pcapng timestamp that int64 nanoseconds cannot
// hold is an error naming the packet, not a clamped time.
func TestTimestampRange(t *testing.T) {
	const maxNs = math.MaxInt64 // 2262-04-11 23:47:16.854775807 UTC
	tsresol := func(v byte) []byte { return ngOpt(9, []byte{v}) }
	tsoffset := func(sec int64) []byte { return ngOpt(14, binary.LittleEndian.AppendUint64(nil, uint64(sec))) }
	for _, c := range []struct {
		name  string
		idb   []byte
		units uint64
		want  int64  // when ok
		err   string // substring of the error, "" when ok
		first uint64 // units of packet 1, which must read
		pkt   int    // the packet the error names; 0 means 2
	}{
		{"ns at the limit", ngIDB(tsresol(9)), maxNs, maxNs, "", 0, 0},
		{"ns one past", ngIDB(tsresol(9)), maxNs + 1, 0,
			"pcapio: packet 2 at offset 96: timestamp 2262-04-11 23:47:16.854775808 UTC is beyond what can be stored (int64 nanoseconds since 1970 end at 2262-04-11 23:47:16.854775807 UTC)", 0, 0},
		{"ns all ones", ngIDB(tsresol(9)), math.MaxUint64, 0, "timestamp 2554-07-21 23:34:33.709551615 UTC is beyond", 0, 0},
		{"us at the limit", ngIDB(), maxNs / 1000, maxNs / 1000 * 1000, "", 0, 0},
		{"us one past", ngIDB(), maxNs/1000 + 1, 0, "timestamp 2262-04-11 23:47:16.854776000 UTC is beyond", 0, 0},
		{"us all ones", ngIDB(), math.MaxUint64, 0, "timestamp 586524-01-19 08:01:49.551615000 UTC is beyond", 0, 0},
		{"seconds all ones", ngIDB(tsresol(0)), math.MaxUint64, 0, "timestamp 18446744073709551615 s after 1970 is beyond", 0, 0},
		{"2^-30 s at the limit", ngIDB(tsresol(0x80 | 30)), 9223372036 << 30, 9223372036e9, "", 0, 0},
		{"2^-30 s one past", ngIDB(tsresol(0x80 | 30)), 9223372037 << 30, 0, "is beyond what can be stored", 0, 0},
		{"offset to the limit", ngIDB(tsresol(9), tsoffset(9e9)), maxNs - 9e18, maxNs, "", 0, 0},
		{"offset one past", ngIDB(tsresol(9), tsoffset(9e9)), maxNs - 9e18 + 1, 0, "is beyond what can be stored", 0, 0},
		{"huge offset", ngIDB(tsoffset(math.MaxInt64)), 0, 0, "timestamp 9223372036854775807 s after 1970 is beyond", 0, 1},
		{"negative offset", ngIDB(tsoffset(-1e9)), 5, -1e18 + 5000, "", 0, 0},
		{"negative offset at the limit", ngIDB(tsresol(9), tsoffset(-maxSec-1)), 1e9 - maxFrac - 1, math.MinInt64, "", 1e9, 0},
		{"negative offset one before", ngIDB(tsresol(9), tsoffset(-maxSec-1)), 1e9 - maxFrac - 2, 0,
			"timestamp 1677-09-21 00:12:43.145224191 UTC is before what can be stored (int64 nanoseconds since 1970 start at 1677-09-21 00:12:43.145224192 UTC)", 1e9, 0},
		{"most negative offset", ngIDB(tsoffset(math.MinInt64)), math.MaxUint64, 0, "timestamp -9223353590110702099 s after 1970 is before what can be stored", math.MaxUint64, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Packet 1 is fine (unless c.pkt says otherwise); packet 2
			// is the one tested.
			file := cat(ngSHB(), c.idb, ngEPB(c.first), ngEPB(c.units))
			pkt := c.pkt
			if pkt == 0 {
				pkt = 2
			}
			_, pkts, err := readAllBytes(file)
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := pkts[1].Timestamp; got != c.want {
					t.Errorf("timestamp %d, want %d", got, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; timestamp %d", pkts[1].Timestamp)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Packet != pkt || !errors.Is(err, ErrTimestampRange) {
				t.Errorf("error %#v, want a *ParseError for packet %d wrapping ErrTimestampRange", err, pkt)
			}
			if len(pkts) != pkt-1 {
				t.Errorf("%d packets before the error, want %d", len(pkts), pkt-1)
			}
			if !strings.Contains(err.Error(), c.err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, c.err)
			}
		})
	}

	// Interface statistics times are checked the same way.
	isb := ngBlock(blockISB, cat(u32(0), u32(0xffffffff), u32(0xffffffff)))
	_, _, err := readAllBytes(cat(ngSHB(), ngIDB(tsresol(9)), ngEPB(0), isb))
	if !errors.Is(err, ErrTimestampRange) || !strings.Contains(err.Error(), "interface statistics: timestamp 2554-07-21") {
		t.Errorf("ISB: %v", err)
	}
	isb = ngBlock(blockISB, cat(u32(0), u32(0), u32(0), ngOpt(2, cat(u32(0x80000000), u32(0))), ngOpt(optEndOfOpt, nil)))
	_, _, err = readAllBytes(cat(ngSHB(), ngIDB(tsresol(9)), isb))
	if !errors.Is(err, ErrTimestampRange) || !strings.Contains(err.Error(), "interface statistics: isb_starttime") {
		t.Errorf("ISB start time: %v", err)
	}
}

// TestSectionComments: each of PcapngConfig.Comments is an opt_comment of
// its own, after Comment; capinfos lists each.
func TestSectionComments(t *testing.T) {
	cfg := PcapngConfig{
		Comment:  "legacy field",
		Comments: []string{"packetrecorder session 1: lab", "", "imported from a.pcap, b.pcap", "notes: ünïcode"},
		OS:       "Linux",
	}
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(Interface{LinkType: 1}); err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, []Packet{{Timestamp: 1e18, LinkType: 1, OrigLen: 4, Data: []byte{1, 2, 3, 4}}})
	want := []string{"legacy field", "packetrecorder session 1: lab", "imported from a.pcap, b.pcap", "notes: ünïcode"}
	r, _, err := readAllBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Sections()[0].Comments; !slices.Equal(got, want) {
		t.Errorf("section comments %q, want %q", got, want)
	}

	testkit.RequireTool(t, "capinfos")
	path := filepath.Join(t.TempDir(), "comments.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(run(t, "capinfos", "-k", path), "\n") {
		if c, ok := strings.CutPrefix(l, "Capture comment:"); ok {
			got = append(got, strings.TrimSpace(c))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("capinfos -k lists %q, want %q", got, want)
	}
}

// TestLongCommentCut: a comment longer than an option can hold is cut at a
// character boundary.
func TestLongCommentCut(t *testing.T) {
	long := strings.Repeat("a", math.MaxUint16-1) + "é" // 'é' straddles the limit
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngConfig{Comments: []string{long}})
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, nil)
	r, _, err := readAllBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Sections()[0].Comments; len(got) != 1 || got[0] != long[:math.MaxUint16-1] {
		t.Errorf("cut comment of %d bytes, want %d", len(got[0]), math.MaxUint16-1)
	}
}
