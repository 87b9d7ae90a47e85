package testkit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// RunTool runs a witness tool (tcpdump, tshark, editcap, mergecap) to
// completion, at most a minute.
func RunTool(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// packetStart is the first line of a packet in tcpdump -tt output: its
// time, or what stands for it when the C library cannot convert the time,
// or for a record whose lengths libpcap finds invalid, only that.
var packetStart = regexp.MustCompile(`^([0-9]+\.[0-9]+ |\[Error converting time\]|\[Invalid header)`)

// TcpdumpPackets prints a capture file with tcpdump -n -S -tt --nano -xx
// and the filter expr, one string per packet (its lines: the summary,
// then the bytes in hex). -S (absolute TCP sequence numbers) makes a
// packet's text independent of the packets printed before it. When
// tcpdump cannot compile expr for the file's link type, refused is its
// error message.
func TcpdumpPackets(file, expr string) (pkts []string, refused string, err error) {
	args := []string{"-n", "-S", "-tt", "--nano", "-xx", "-r", file}
	if expr != "" {
		args = append(args, "--", expr)
	}
	out, stderr, err := RunTool("tcpdump", args...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && expr != "" && out == "" {
			return nil, lastLine(stderr), nil
		}
		return nil, "", fmt.Errorf("tcpdump %s: %v: %s", strings.Join(args, " "), err, lastLine(stderr))
	}
	var cur []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if packetStart.MatchString(line) && len(cur) > 0 {
			pkts = append(pkts, strings.Join(cur, "\n"))
			cur = nil
		}
		if line != "" || len(cur) > 0 {
			cur = append(cur, line)
		}
	}
	if len(cur) > 0 {
		pkts = append(pkts, strings.Join(cur, "\n"))
	}
	return pkts, "", nil
}

// PacketTime is the time tcpdump printed for a packet of TcpdumpPackets
// (the first field of its first line).
func PacketTime(pkt string) string {
	t, _, _ := strings.Cut(pkt, " ")
	return t
}

// PacketKey identifies a packet of TcpdumpPackets whatever tcpdump printed
// before it and whatever the filter: its time and its bytes.
func PacketKey(pkt string) string {
	key := []string{PacketTime(pkt)}
	for _, line := range strings.Split(pkt, "\n") {
		if strings.HasPrefix(line, "\t0x") {
			key = append(key, line)
		}
	}
	return strings.Join(key, "\n")
}

// ParseEpoch reads a time as tcpdump -tt --nano and tshark's
// frame.time_epoch print it, "seconds.fraction", as nanoseconds since the
// epoch. A fraction of more than nine digits (an invalid sub-second field
// printed as it is) is not a time.
func ParseEpoch(s string) (int64, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(sec, "-")
	n, err := strconv.ParseInt(strings.TrimPrefix(sec, "-"), 10, 64)
	if err != nil || len(frac) > 9 {
		return 0, false
	}
	f, err := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	if err != nil {
		return 0, false
	}
	ns := n*1e9 + f
	if neg {
		ns = -ns
	}
	return ns, true
}

// TsharkFrame is a packet as tshark reads it.
type TsharkFrame struct {
	Interface int    // frame.interface_id, within its section
	Time      string // frame.time_epoch; "" for a simple packet block
}

// TsharkFrames runs tshark once over pcapng files of one section each,
// written one after the other into joined (a file of several sections:
// one start of tshark costs more than half a second), and returns each
// file's packets. When tshark stops on an error, the packets it read come
// with the error.
func TsharkFrames(joined string, files []string) ([][]TsharkFrame, error) {
	if err := concatenate(joined, files); err != nil {
		return nil, err
	}
	out, stderr, runErr := RunTool("tshark", "-r", joined, "-T", "fields", "-E", "separator=/t",
		"-e", "frame.section_number", "-e", "frame.interface_id", "-e", "frame.time_epoch")
	sections := make([][]TsharkFrame, len(files))
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		sec, err1 := strconv.Atoi(f[0])
		iface, err2 := strconv.Atoi(cmp.Or(f[1], "0")) // none for simple packet blocks
		if err1 != nil || err2 != nil || sec < 1 || sec > len(files) {
			return nil, fmt.Errorf("tshark: unexpected line %q", line)
		}
		sections[sec-1] = append(sections[sec-1], TsharkFrame{Interface: iface, Time: f[2]})
	}
	if runErr != nil {
		return sections, fmt.Errorf("tshark: %v: %s", runErr, lastLine(stderr))
	}
	return sections, nil
}

// TsharkPackets is TsharkFrames for comparing packets: each is one
// string of its time, lengths, link type (Wireshark's encapsulation) and
// bytes in hex.
func TsharkPackets(joined string, files []string) ([][]string, error) {
	if err := concatenate(joined, files); err != nil {
		return nil, err
	}
	out, stderr, err := RunTool("tshark", "-r", joined, "-T", "json", "-x", "-j", "frame")
	if err != nil {
		return nil, fmt.Errorf("tshark: %v: %s", err, lastLine(stderr))
	}
	var frames []struct {
		Source struct {
			Layers struct {
				Raw   []json.RawMessage `json:"frame_raw"` // hex, offset, length, ...
				Frame map[string]any    `json:"frame"`
			} `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal([]byte(out), &frames); err != nil {
		return nil, fmt.Errorf("tshark: %w", err)
	}
	sections := make([][]string, len(files))
	for _, f := range frames {
		fr := f.Source.Layers.Frame
		var raw string
		if len(f.Source.Layers.Raw) > 0 {
			json.Unmarshal(f.Source.Layers.Raw[0], &raw)
		}
		if _, err := hex.DecodeString(raw); err != nil {
			return nil, fmt.Errorf("tshark: frame_raw %q: %w", raw, err)
		}
		sec, err := strconv.Atoi(fmt.Sprint(fr["frame.section_number"]))
		if len(files) == 1 {
			sec, err = 1, nil // one section: tshark leaves the number out
		}
		if err != nil || sec < 1 || sec > len(files) {
			return nil, fmt.Errorf("tshark: a frame without a valid section number (%v)", fr["frame.section_number"])
		}
		sections[sec-1] = append(sections[sec-1], fmt.Sprintf("time %v len %v caplen %v encap %v bytes %s",
			fr["frame.time_epoch"], fr["frame.len"], fr["frame.cap_len"], fr["frame.encap_type"], raw))
	}
	return sections, nil
}

// concatenate writes the files one after the other into dst.
func concatenate(dst string, files []string) error {
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		all = append(all, b...)
	}
	return os.WriteFile(dst, all, 0o600)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
