package pcapio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// corpusDir holds the shared corpus's captures (see testkit.CorpusRoot).
var corpusDir = filepath.Join(testkit.CorpusRoot(), "pcap")

type manifestRow struct {
	file, format, endian, linktype, packets, snaplen, tsRes, libpcapRead, category, notes string
	count                                                                                 int
}

// requireCorpus skips when the corpus is missing, unless CI or
// PRD_REQUIRE_PRIVILEGED say it must be there.
func requireCorpus(t testing.TB) {
	t.Helper()
	testkit.Corpus(t, "pcap", "MANIFEST.tsv")
}

func readManifest(t testing.TB) []manifestRow {
	t.Helper()
	requireCorpus(t)
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var rows []manifestRow
	var col map[string]int
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range fields {
				col[name] = i
			}
			continue
		}
		get := func(name string) string {
			i, ok := col[name]
			if !ok {
				t.Fatalf("manifest has no column %q", name)
			}
			if i >= len(fields) {
				return ""
			}
			return fields[i]
		}
		r := manifestRow{
			file: get("file"), format: get("format"), endian: get("endian"), linktype: get("linktype"),
			packets: get("packets"), snaplen: get("snaplen"), tsRes: get("ts_resolution"),
			libpcapRead: get("libpcap_read"), category: get("category"), notes: get("notes"),
		}
		n, err := strconv.Atoi(strings.Fields(r.packets + " x")[0])
		if err != nil {
			t.Fatalf("%s: packets %q: %v", r.file, r.packets, err)
		}
		r.count = n
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 100 {
		t.Fatalf("manifest has only %d rows", len(rows))
	}
	return rows
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAll reads every packet, copying the data.
func readAll(r *Reader) ([]Packet, error) {
	var pkts []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return pkts, nil
		}
		if err != nil {
			return pkts, err
		}
		p.Data = bytes.Clone(p.Data)
		pkts = append(pkts, p)
	}
}

func readAllBytes(b []byte) (*Reader, []Packet, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, nil, err
	}
	pkts, err := readAll(r)
	return r, pkts, err
}

// TestCorpus reads every capture of the manifest: readable files give the
// manifest's packet count and header facts; container-malformed files give
// a *ParseError.
func TestCorpus(t *testing.T) {
	for _, row := range readManifest(t) {
		t.Run(row.file, func(t *testing.T) {
			r, pkts, err := readAllBytes(readFile(t, row.file))
			if row.category == "container-malformed" {
				var pe *ParseError
				if err == nil {
					t.Fatalf("read %d packets without error; libpcap says %q", len(pkts), row.libpcapRead)
				}
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ParseError", err)
				}
				t.Logf("%v (libpcap: %s)", err, row.libpcapRead)
				return
			}
			if err != nil {
				t.Fatalf("read: %v (after %d packets)", err, len(pkts))
			}
			if len(pkts) != row.count {
				t.Errorf("read %d packets, manifest says %s", len(pkts), row.packets)
			}
			wantFormat := FormatPcap
			if strings.HasPrefix(row.format, "pcapng") {
				wantFormat = FormatPcapng
			}
			if r.Format() != wantFormat {
				t.Errorf("format %v, manifest says %s", r.Format(), row.format)
			}
			// Every link type the manifest lists is one of our interfaces'.
			lts := map[string]bool{}
			for _, in := range r.Interfaces() {
				lts[strconv.Itoa(int(in.LinkType))] = true
			}
			for _, part := range strings.Split(row.linktype, ",") {
				num := strings.Fields(part + " x")[0]
				if _, err := strconv.Atoi(num); err == nil && !lts[num] {
					t.Errorf("link type %s not among interfaces %v", num, lts)
				}
			}
			for i, p := range pkts {
				if p.Interface < 0 || p.Interface >= len(r.Interfaces()) {
					t.Fatalf("packet %d: interface %d of %d", i+1, p.Interface, len(r.Interfaces()))
				}
				if p.LinkType != r.Interfaces()[p.Interface].LinkType {
					t.Errorf("packet %d: link type %d, interface says %d", i+1, p.LinkType, r.Interfaces()[p.Interface].LinkType)
				}
			}
			if wantFormat == FormatPcap {
				wantRes := uint8(6)
				if strings.Contains(row.format, "nsec") {
					wantRes = 9
				}
				if got := r.Interfaces()[0].TsResol; got != wantRes {
					t.Errorf("TsResol %d, manifest says %s", got, row.format)
				}
			} else {
				secs := r.Sections()
				if len(secs) == 0 {
					t.Fatal("no sections")
				}
				if want := row.endian == "be" || strings.HasPrefix(row.endian, "be/"); secs[0].BigEndian != want {
					t.Errorf("first section big-endian %v, manifest says %s", secs[0].BigEndian, row.endian)
				}
				if m := sectionsRe(row.notes); m > 0 && len(secs) != m {
					t.Errorf("%d sections, manifest notes say %d", len(secs), m)
				}
				if m := countRe(row.notes, "interfaces="); m >= 0 && len(r.Interfaces()) != m {
					t.Errorf("%d interfaces, manifest notes say %d", len(r.Interfaces()), m)
				}
			}
		})
	}
}

func sectionsRe(notes string) int { return countRe(notes, "sections=") }

// countRe returns the number after key in the manifest notes, -1 if absent.
func countRe(notes, key string) int {
	i := strings.Index(notes, key)
	if i < 0 {
		return -1
	}
	s := notes[i+len(key):]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(s[:j])
	if err != nil {
		return -1
	}
	return n
}
