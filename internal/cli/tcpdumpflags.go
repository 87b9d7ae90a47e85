package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
)

// errTflag is tcpdump's refusal of -tttttt and beyond.
var errTflag = errors.New("only -t, -tt, -ttt, -tttt and -ttttt are supported")

// tcpdumpView is how tcpdump's flags shape each printed packet: its time
// format (-t...), its number (-#), its link-level header (-e) and a dump
// of its bytes (-X, -x, -A), with the meanings of tcpdump 4.99.
type tcpdumpView struct {
	tflag  int  // 0 default, 1-5 -t to -ttttt
	nano   bool // --nano: times and deltas in nanoseconds
	number bool // -#: the packet's number, as "%5u  "
	eflag  bool // -e: the link-level header
	qflag  bool // -q: quiet lines
	hexA   int  // -X (1) / -XX (2): hex and ASCII
	hex    int  // -x (1) / -xx (2): hex only
	ascii  int  // -A (1) / -AA (2): ASCII only
}

// addTcpdumpViewFlags adds -x, -A, -e, -q and -# (query's -X, -t and -S
// are its own).
func addTcpdumpViewFlags(cmd *cobra.Command, v *tcpdumpView) {
	fl := cmd.Flags()
	fl.CountVarP(&v.hex, "hex-only", "x", "-x: each packet's bytes after its link header in hex (no ASCII), -xx: with it (as tcpdump)")
	fl.CountVarP(&v.ascii, "ascii", "A", "-A: each packet's bytes after its link header as ASCII, -AA: with it (as tcpdump)")
	fl.BoolVarP(&v.eflag, "link-header", "e", false, "the link-level header on each line (addresses, ethertype, length), as tcpdump -e")
	fl.BoolVarP(&v.qflag, "quiet", "q", false, "quiet lines: TCP and UDP as addresses, ports and length only, as tcpdump -q")
	fl.BoolVarP(&v.number, "number", "#", false, "number each line, as tcpdump -#")
}

// addNanoFlag adds --nano where packets print with tcpdump's times.
func addNanoFlag(cmd *cobra.Command, v *tcpdumpView) {
	cmd.Flags().BoolVar(&v.nano, "nano", false, "times and deltas in nanoseconds, as tcpdump --nano (else microseconds)")
}

// check refuses what tcpdump refuses and caps what it caps: -tttttt is an
// error, -XXX is -XX, -xxx is -xx, -AAA is -AA.
func (v *tcpdumpView) check() error {
	if v.tflag > 5 {
		return errTflag
	}
	v.hexA, v.hex, v.ascii = min(v.hexA, 2), min(v.hex, 2), min(v.ascii, 2)
	return nil
}

// lines reports whether packets print as tcpdump's lines: any of its
// display flags asks for them.
func (v *tcpdumpView) lines() bool {
	return v.tflag > 0 || v.nano || v.qflag || v.number || v.eflag || v.hex > 0 || v.ascii > 0
}

// stamp is a packet's time as tcpdump prints it before the summary.
// Deltas (-ttt, -ttttt) are taken between times truncated to the
// precision tcpdump reads at (microseconds unless --nano), as it does.
func (v *tcpdumpView) stamp(ts, prev, first int64) string {
	if v.nano {
		return tcpdumpStampNano(v.tflag, ts, prev, first)
	}
	return tcpdumpStamp(v.tflag, ts, prev, first)
}

// writePacket writes one packet as tcpdump does: number, time, link
// header, summary, then the dump its flags ask for (-X before -x before
// -A, as tcpdump chooses), and the newline.
func (v *tcpdumpView) writePacket(out *bufio.Writer, n int64, stamp string, linkType uint32, data []byte, origLen int, summary string) error {
	if v.number {
		fmt.Fprintf(out, "%5d  ", n)
	}
	out.WriteString(stamp)
	if v.qflag {
		summary = decode.Quiet(linkType, data, summary)
	}
	if v.eflag {
		summary = decode.LinkLine(linkType, data, origLen, summary, v.qflag)
	}
	out.WriteString(summary)
	hdr := linkHeaderLen(linkType, data)
	switch {
	case v.hexA > 0:
		out.WriteByte('\n')
		if v.hexA > 1 {
			return decode.HexDump(out, data)
		}
		return decode.HexDump(out, data[hdr:])
	case v.hex > 0:
		if v.hex > 1 {
			decode.HexOnly(out, data)
		} else if len(data) > hdr {
			decode.HexOnly(out, data[hdr:])
		}
	case v.ascii > 0:
		if v.ascii > 1 {
			decode.ASCIIDump(out, data)
		} else if len(data) > hdr {
			decode.ASCIIDump(out, data[hdr:])
		}
	}
	return out.WriteByte('\n')
}

// tcpdumpStampNano is tcpdumpStamp at nanosecond precision (--nano).
func tcpdumpStampNano(tflag int, ts, prev, first int64) string {
	switch tflag {
	case 0, 4:
		s := tcpdumpStamp(tflag, ts, prev, first)
		// The microsecond stamp ends ".uuuuuu "; add the rest.
		return s[:len(s)-1] + fmt.Sprintf("%03d ", mod(ts, 1000))
	case 1:
		return ""
	case 2:
		return fmt.Sprintf("%d.%09d ", floorDiv(ts, 1e9), mod(ts, 1e9))
	case 3:
		return deltaNano(ts - prev)
	default:
		return deltaNano(ts - first)
	}
}

func deltaNano(d int64) string {
	sign := " "
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%02d:%02d:%02d.%09d ", sign, d/3600e9, d/60e9%60, d/1e9%60, d%1e9)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// filterFromFile reads a filter as tcpdump -F does: the whole file, each
// '#' to the end of its line a comment.
func filterFromFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("filter file: %w", err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.TrimSpace(strings.Join(lines, " ")), nil
}

// useFilterFile puts -F's filter in place of the expression, as tcpdump:
// an expression after the flags is ignored, with a warning.
func useFilterFile(path string, filter *string, args []string, warn func(string)) ([]string, error) {
	if path == "" {
		return args, nil
	}
	f, err := filterFromFile(path)
	if err != nil {
		return nil, err
	}
	ignored := strings.TrimSpace(*filter + " " + strings.Join(args, " "))
	if ignored != "" {
		warn("warning: the filter is -F's file; the expression " + strconv.Quote(ignored) + " is ignored, as tcpdump ignores it")
	}
	*filter = f
	return nil, nil
}
