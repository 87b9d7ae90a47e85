package testkit

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// TsharkConv is one row of tshark's `-z conv,tcp` or `-z conv,udp`
// table.
type TsharkConv struct {
	Proto string // "tcp" or "udp"
	// A and B are the endpoints as tshark prints them (address:port), A
	// the one it saw first.
	A, B string
	// FramesAB and FramesBA count the frames each way, Frames both.
	FramesAB, FramesBA, Frames int
	// BytesAB and BytesBA are the bytes each way as tshark prints them
	// (TsharkBytes); "" once rows that were not exact were merged.
	BytesAB, BytesBA string
}

// Key is the row's 5-tuple whichever side is first: "proto a b", the
// endpoints in string order.
func (c TsharkConv) Key() string {
	a, b := c.A, c.B
	if a > b {
		a, b = b, a
	}
	return c.Proto + " " + a + " " + b
}

// The columns: A <-> B, then frames and bytes B to A ("<-"), A to B
// ("->"), both, then the relative start and the duration.
var tsharkConvLine = regexp.MustCompile(`^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ \S*bytes|\d+ [kMGT]B)\s+(\d+)\s+(\d+ \S*bytes|\d+ [kMGT]B)\s+(\d+)\s`)

// TsharkConversations runs tshark's TCP and UDP conversation statistics
// on the capture at path, with IP reassembly off (each fragment counts
// in its own 5-tuple's row, as a flow table that does not reassemble
// counts it). A file tshark stops reading in (damage) gives the rows up
// to there and tshark's error.
func TsharkConversations(path string) ([]TsharkConv, error) {
	out, err := exec.Command("tshark", "-r", path, "-q", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-z", "conv,tcp", "-z", "conv,udp").Output()
	if err != nil {
		err = fmt.Errorf("tshark -z conv %s: %w", path, err)
	}
	var rows []TsharkConv
	proto := ""
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "TCP Conversations"):
			proto = "tcp"
		case strings.HasPrefix(line, "UDP Conversations"):
			proto = "udp"
		}
		m := tsharkConvLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		r := TsharkConv{Proto: proto, A: m[1], B: m[2], BytesBA: m[4], BytesAB: m[6]}
		r.FramesBA, _ = strconv.Atoi(m[3])
		r.FramesAB, _ = strconv.Atoi(m[5])
		r.Frames, _ = strconv.Atoi(m[7])
		rows = append(rows, r)
	}
	return rows, err
}

// MergeConversations sums the rows of one 5-tuple into the first one's
// orientation: tshark 4.0 keys its rows by its stream index too, so a
// reused TCP 5-tuple has a row per connection and a UDP protocol whose
// dissector makes its own conversations (SNMP) a row per direction. Byte
// counts stay exact while every part is; otherwise the merged row's are
// "". It returns how many rows were merged away.
func MergeConversations(rows []TsharkConv) ([]TsharkConv, int) {
	var out []TsharkConv
	at := map[string]int{}
	merged := 0
	for _, r := range rows {
		k := r.Key()
		i, ok := at[k]
		if !ok {
			at[k] = len(out)
			out = append(out, r)
			continue
		}
		merged++
		m := &out[i]
		if r.A != m.A {
			r.FramesAB, r.FramesBA, r.BytesAB, r.BytesBA = r.FramesBA, r.FramesAB, r.BytesBA, r.BytesAB
		}
		m.FramesAB += r.FramesAB
		m.FramesBA += r.FramesBA
		m.Frames += r.Frames
		m.BytesAB, m.BytesBA = addTsharkBytes(m.BytesAB, r.BytesAB), addTsharkBytes(m.BytesBA, r.BytesBA)
	}
	return out, merged
}

func addTsharkBytes(a, b string) string {
	x, errA := strconv.ParseUint(strings.TrimSuffix(a, " bytes"), 10, 64)
	y, errB := strconv.ParseUint(strings.TrimSuffix(b, " bytes"), 10, 64)
	if errA != nil || errB != nil || !strings.HasSuffix(a, " bytes") || !strings.HasSuffix(b, " bytes") {
		return ""
	}
	return TsharkBytes(x + y)
}

// TsharkBytes is a byte count as tshark 4.0's conversation table prints
// it: exact below 10 kB ("1234 bytes"), then truncated to whole kB, MB,
// GB or TB (SI).
func TsharkBytes(n uint64) string {
	if n < 10000 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"kB", "MB", "GB", "TB"}
	v, u := n/1000, 0
	for v >= 10000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return fmt.Sprintf("%d %s", v, units[u])
}
