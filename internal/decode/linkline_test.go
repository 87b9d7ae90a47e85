package decode

import (
	"bufio"
	"io"
	"testing"
)

// FuzzLinkLine: -e's link headers, -q's lines and the -x/-A dumps never
// panic on truncated or odd packets of any link type they know.
func FuzzLinkLine(f *testing.F) {
	eth := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 0, 81, 0, 0, 0, 0, 0, 0, 0, 0, 0x50}
	for _, lt := range []uint32{0, 1, 12, 101, 108, 113, 228, 229, 276} {
		for n := 0; n <= len(eth); n += 3 {
			f.Add(lt, eth[:n])
		}
	}
	f.Add(uint32(1), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0x26, 0x42, 0x42, 0x03})
	f.Fuzz(func(t *testing.T, lt uint32, data []byte) {
		s := "IP 10.0.0.1.80 > 10.0.0.2.81: Flags [S], length 0"
		LinkLine(lt, data, len(data), s, false)
		LinkLine(lt, data, len(data), s, true)
		Quiet(lt, data, s)
		w := bufio.NewWriter(io.Discard)
		HexOnly(w, data)
		ASCIIDump(w, data)
	})
}

// TestASCIIDumpCarriageReturns: tcpdump -A's rule for '\r' (print-ascii.c):
// left out before '\n' and as one of the last two bytes, '.' elsewhere.
func TestASCIIDumpCarriageReturns(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"GET /\r\nHost: x\r\n\r\n", "\nGET /\nHost: x\n\n"},
		{"a\rb\x01cd", "\na.b.cd"},
		{"ab\r", "\nab"},
		{"a\rb", "\nab"},
	} {
		var out stringsWriter
		w := bufio.NewWriter(&out)
		ASCIIDump(w, []byte(c.in))
		w.Flush()
		if string(out) != c.want {
			t.Errorf("%q: %q, want %q", c.in, out, c.want)
		}
	}
}

type stringsWriter []byte

func (s *stringsWriter) Write(p []byte) (int, error) { *s = append(*s, p...); return len(p), nil }
