package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/atomicfile"
	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// exportOptions are export's flags.
type exportOptions struct {
	sel    selection
	output string
	format string
	count  int64
}

func (o *exportOptions) addFlags(cmd *cobra.Command) {
	o.sel.addFlags(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "file to write, - for standard output")
	cmd.Flags().StringVar(&o.format, "format", "", "pcap or pcapng (default: by the file's extension, .pcap or .pcapng; else pcapng when the session needs it, else pcap)")
	addMaxPacketsFlag(cmd, &o.count, 0, "stop after this many packets (0 = all), as tcpdump -c")
	cmd.MarkFlagRequired("output")
}

// parse checks the flags and takes the filter from the arguments.
func (o *exportOptions) parse(args []string) error {
	if err := o.sel.filterArgs(args); err != nil {
		return err
	}
	if o.count < 0 {
		return fmt.Errorf("invalid count %d: must be 0 (all) or more", o.count)
	}
	if o.format != "" && o.format != "pcap" && o.format != "pcapng" {
		return fmt.Errorf("invalid format %q: use pcap or pcapng", o.format)
	}
	return nil
}

func (a *app) exportCmd() *cobra.Command {
	var opts exportOptions
	cmd := &cobra.Command{
		Use:   "export (-s ID | -d STORE [--interface IF] | -r FILE | --server URL) -o FILE [flags] [FILTER...]",
		Short: "Write a session's packets to a pcap or pcapng file",
		Example: `  packetrecorder export -s 3 -o trace.pcapng
  packetrecorder export -s 3 -o - | tshark -r -
  packetrecorder export -s 3 --format pcap -o tls.pcap tcp port 443
  packetrecorder export -r big.pcapng.zst -o dns.pcap udp port 53`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.parse(args); err != nil {
				return err
			}
			return a.runExport(cmdContext(cmd), &opts)
		},
	}
	opts.addFlags(cmd)
	return cmd
}

// runExport writes the selection to a pcap or pcapng file, whole or not
// at all.
func (a *app) runExport(ctx context.Context, o *exportOptions) error {
	sl, err := o.sel.open()
	if err != nil {
		return err
	}
	defer sl.Close()
	defer a.planWarning(sl.Selection)
	sess := sl.sess
	linkTypes, nIfaces, first, last, err := sl.Shape()
	if err != nil {
		return err
	}
	// pcap stores unsigned 32-bit seconds: 1970 to 2106.
	pcapTime := first >= 0 && last/1e9 <= math.MaxUint32
	format, output := o.format, o.output
	if format == "" {
		format = formatByExtension(output)
	}
	if format == "" {
		format = "pcap"
		if len(linkTypes) > 1 || nIfaces > 1 || !pcapTime {
			format = "pcapng"
		}
	}
	if format == "pcap" && len(linkTypes) > 1 {
		return fmt.Errorf("session %d has %d link types: pcap holds one, use --format pcapng", sess.ID, len(linkTypes))
	}
	if format == "pcap" && !pcapTime {
		return fmt.Errorf("session %d has timestamps outside pcap's range (1970-2106): use --format pcapng", sess.ID)
	}
	// An interrupted export leaves the target as it was.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	write := func(out io.Writer) (int64, error) {
		return a.export(ctx, sl, o.count, format, linkTypes, out)
	}
	var n int64
	if output == "-" {
		n, err = write(a.stdout)
	} else {
		if err := notTheDatabase("export: -o", output, o.sel.db); !o.sel.storeMode && err != nil {
			return err
		}
		if err := notInAStore("export: -o", output); err != nil {
			return err
		}
		n, err = writeAtomically(output, write)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("export session %d: interrupted, %s left as it was", sess.ID, output)
	}
	if err != nil {
		return fmt.Errorf("export session %d: %w", sess.ID, err)
	}
	if output != "-" {
		fmt.Fprintf(a.stderr, "exported %s to %s (%s)\n", packets(n), output, format)
	}
	return a.partialAnswer(sl.Missing(), o.sel.remote.PartialOK)
}

func (a *app) export(ctx context.Context, sl *selected, count int64, format string, linkTypes []uint32, out io.Writer) (int64, error) {
	sess := sl.sess
	var w pcapio.PacketWriter
	var trailer func() error // written after the packets
	commentsOf := func(store.Record) []string { return nil }
	ifIndex := map[int]int{} // session interface id -> pcapng interface index
	if format == "pcap" {
		lt := sess.LinkType
		if len(linkTypes) == 1 {
			lt = linkTypes[0]
		}
		// The largest snaplen of the interfaces: a pcap has one, and the
		// session's is its first interface's; a smaller one would cut the
		// packets of the others (an import of a pcapng whose interfaces
		// differ).
		snap := sess.Snaplen
		if ifaces, err := sl.Interfaces(); err == nil {
			for _, it := range ifaces {
				if it.Snaplen == 0 {
					snap = 0 // no limit given: none
					break
				}
				snap = max(snap, it.Snaplen)
			}
		}
		if snap == 0 {
			snap = store.MaxCapLen
		}
		pw, err := pcapio.NewPcapWriter(out, lt, snap, true)
		if err != nil {
			return 0, err
		}
		w = pw
	} else {
		host, _ := os.Hostname()
		comment := sectionComments(sess)
		pw, err := pcapio.NewPcapngWriter(out, pcapio.PcapngConfig{
			Comments: comment,
			OS:       runtime.GOOS,
			UserAppl: "packetrecorder " + version() + " on " + host,
		})
		if err != nil {
			return 0, err
		}
		ifaces, err := sl.Interfaces()
		if err != nil {
			return 0, err
		}
		for _, it := range ifaces {
			idx, err := pw.AddInterface(pcapio.Interface{LinkType: it.LinkType, Snaplen: it.Snaplen, Name: it.Name,
				Description: it.Description, Filter: it.Filter, TsResol: 9, FCSLen: -1})
			if err != nil {
				return 0, err
			}
			ifIndex[it.ID] = idx
		}
		if one, ok := sl.Session(); ok && one.Source == "capture" && !one.Ended.IsZero() && len(ifaces) == 1 {
			// The capture's counters, as Wireshark's "Capture File Properties" shows them.
			trailer = func() error {
				return pw.WriteStats(0, pcapio.InterfaceStats{
					Timestamp: one.Ended.UnixNano(), StartTime: one.Started.UnixNano(), EndTime: one.Ended.UnixNano(),
					Received: uint64(one.KernelReceived), OSDropped: uint64(one.KernelDropped), Delivered: uint64(one.Packets),
					Has: pcapio.StatReceived | pcapio.StatOSDropped | pcapio.StatDelivered | pcapio.StatStartTime | pcapio.StatEndTime,
				})
			}
		}
		w = pw
		if commentsOf, err = sl.Comments(); err != nil {
			return 0, err
		}
	}
	var n, bytes int64
	var bar *progress
	if out != a.stdout { // a pipe to tshark or wireshark keeps the terminal free
		bar = newProgress(a.stderr, "exporting")
		defer bar.done()
	}
	err := sl.Walk(ctx, count, func(rec store.Record) error {
		if bar != nil && n&0xfff == 0 {
			bar.update(n, bytes)
		}
		bytes += int64(len(rec.Data))
		p := pcapio.Packet{Timestamp: rec.Timestamp, OrigLen: rec.OrigLen, LinkType: rec.LinkType, Interface: ifIndex[rec.Interface], Data: rec.Data,
			Comments: commentsOf(rec)}
		n++
		return w.WritePacket(p)
	})
	if err != nil {
		return n, err
	}
	if trailer != nil {
		if err := trailer(); err != nil {
			return n, err
		}
	}
	return n, w.Flush()
}

// formatByExtension is the format a file name asks for, or "".
func formatByExtension(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".pcapng", ".ntar":
		return "pcapng"
	case ".pcap", ".cap", ".dmp":
		return "pcap"
	}
	return ""
}

// notTheDatabase refuses an output that is the database or one of the
// files SQLite keeps beside it, by name or through a link: opening it for
// writing would destroy the packets being exported.
func notTheDatabase(flag, output, dbPath string) error {
	outAbs, err1 := filepath.Abs(output)
	dbAbs, err2 := filepath.Abs(dbPath)
	outInfo, statErr := os.Stat(output)
	for _, side := range []string{"", "-wal", "-shm", "-journal", "-reserve"} {
		if err1 == nil && err2 == nil && outAbs == dbAbs+side {
			return fmt.Errorf("%s %s is the database%s: name another output file", flag, output, sideName(side))
		}
		if statErr != nil {
			continue
		}
		if fi, err := os.Stat(dbPath + side); err == nil && os.SameFile(outInfo, fi) {
			return fmt.Errorf("%s %s is the database%s: name another output file", flag, output, sideName(side))
		}
	}
	return nil
}

func sideName(side string) string {
	if side == "" {
		return ""
	}
	return "'s " + strings.TrimPrefix(side, "-") + " file"
}

// writeAtomically writes a file through a temporary one beside it,
// synced and renamed over the target only once whole: the target is
// always either what it was or the complete new file. The temporary file
// is removed on any error.
func writeAtomically(path string, write func(io.Writer) (int64, error)) (int64, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		// A device or a pipe (/dev/null, a FIFO): write it in place.
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return 0, fmt.Errorf("export: %w", err)
		}
		n, err := write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return n, err
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temporary name means nothing to the user
		}
		return 0, fmt.Errorf("export: create %s: %w", path, err)
	}
	n, err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return n, err
}

// sectionComments says what is true of a session, one item per pcapng
// section comment: its name, where its packets came from, its notes.
func sectionComments(sess store.Session) []string {
	out := []string{fmt.Sprintf("packetrecorder session %d: %s", sess.ID, sess.Name)}
	switch {
	case sess.Source == "import" && sess.Origin != "":
		out = append(out, "imported from "+sess.Origin)
	case sess.Source == "import":
		out = append(out, "imported on "+sess.Hostname)
	case sess.Hostname != "" && sess.Interface != "":
		out = append(out, "captured on "+sess.Hostname+", interface "+sess.Interface)
	case sess.Hostname != "":
		out = append(out, "captured on "+sess.Hostname)
	}
	if sess.Notes != "" {
		out = append(out, sess.Notes)
	}
	return out
}
