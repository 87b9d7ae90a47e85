package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/pcapio"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

func (a *app) exportCmd() *cobra.Command {
	var (
		sel    selection
		output string
		format string
		count  int64
	)
	cmd := &cobra.Command{
		Use:   "export -s ID -o FILE [flags]",
		Short: "Write a session's packets to a pcap or pcapng file",
		Example: `  packetrecorder export -s 3 -o trace.pcapng
  packetrecorder export -s 3 -o - | tshark -r -
  packetrecorder export -s 3 --format pcap --filter 'tcp port 443' -o tls.pcap`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return fmt.Errorf("invalid count %d: must be 0 (all) or more", count)
			}
			if format != "" && format != "pcap" && format != "pcapng" {
				return fmt.Errorf("invalid format %q: use pcap or pcapng", format)
			}
			db, sess, r, prog, err := sel.open()
			if err != nil {
				return err
			}
			defer db.Close()
			linkTypes, ifaceIDs, err := db.LinkTypes(sess.ID)
			if err != nil {
				return err
			}
			first, last, err := db.TimeSpan(sess.ID)
			if err != nil {
				return err
			}
			// pcap stores unsigned 32-bit seconds: 1970 to 2106.
			pcapTime := first >= 0 && last/1e9 <= math.MaxUint32
			if format == "" {
				format = "pcap"
				if len(linkTypes) > 1 || len(ifaceIDs) > 1 || !pcapTime {
					format = "pcapng"
				}
			}
			if format == "pcap" && len(linkTypes) > 1 {
				return fmt.Errorf("session %d has %d link types: pcap holds one, use --format pcapng", sess.ID, len(linkTypes))
			}
			if format == "pcap" && !pcapTime {
				return fmt.Errorf("session %d has timestamps outside pcap's range (1970-2106): use --format pcapng", sess.ID)
			}

			var out io.Writer = a.stdout
			var file *os.File
			if output != "-" {
				file, err = os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				out = file
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			n, err := a.export(ctx, db, sess, r, prog, &sel, count, format, linkTypes, out)
			if file != nil {
				if cerr := file.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(output)
				}
			}
			if err != nil {
				return fmt.Errorf("export session %d: %w", sess.ID, err)
			}
			if output != "-" {
				fmt.Fprintf(a.stderr, "exported %d packets to %s (%s)\n", n, output, format)
			}
			return nil
		},
	}
	sel.addFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write, - for standard output")
	cmd.Flags().StringVar(&format, "format", "", "pcap or pcapng (default: pcapng when the session has several link types or interfaces, else pcap)")
	cmd.Flags().Int64VarP(&count, "count", "c", 0, "export at most this many packets (0 = all)")
	cmd.MarkFlagRequired("output")
	return cmd
}

func (a *app) export(ctx context.Context, db *store.DB, sess store.Session, r store.Range, prog *packetFilter,
	sel *selection, count int64, format string, linkTypes []uint32, out io.Writer) (int64, error) {
	var w pcapio.PacketWriter
	var trailer func() error // written after the packets
	ifIndex := map[int]int{} // session interface id -> pcapng interface index
	if format == "pcap" {
		lt := sess.LinkType
		if len(linkTypes) == 1 {
			lt = linkTypes[0]
		}
		snap := sess.Snaplen
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
		comment := []string{"session " + fmt.Sprint(sess.ID) + ": " + sess.Name}
		if sess.Notes != "" {
			comment = append(comment, sess.Notes)
		}
		if sess.Hostname != "" {
			comment = append(comment, "captured on "+sess.Hostname)
		}
		pw, err := pcapio.NewPcapngWriter(out, pcapio.PcapngConfig{
			Comment:  strings.Join(comment, "\n"),
			OS:       runtime.GOOS,
			UserAppl: "packetrecorder " + version() + " on " + host,
		})
		if err != nil {
			return 0, err
		}
		ifaces, err := db.Interfaces(sess)
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
		if sess.Source == "capture" && !sess.Ended.IsZero() && len(ifaces) == 1 {
			// The capture's counters, as Wireshark's "Capture File Properties" shows them.
			trailer = func() error {
				return pw.WriteStats(0, pcapio.InterfaceStats{
					Timestamp: sess.Ended.UnixNano(), StartTime: sess.Started.UnixNano(), EndTime: sess.Ended.UnixNano(),
					Received: uint64(sess.KernelReceived), OSDropped: uint64(sess.KernelDropped), Delivered: uint64(sess.Packets),
					Has: pcapio.StatReceived | pcapio.StatOSDropped | pcapio.StatDelivered | pcapio.StatStartTime | pcapio.StatEndTime,
				})
			}
		}
		w = pw
	}
	var n, bytes int64
	var bar *progress
	if out != a.stdout { // a pipe to tshark or wireshark keeps the terminal free
		bar = newProgress(a.stderr, "exporting")
		defer bar.done()
	}
	err := sel.walk(ctx, db, sess, r, prog, count, func(rec store.Record) error {
		if bar != nil && n&0xfff == 0 {
			bar.update(n, bytes)
		}
		bytes += int64(len(rec.Data))
		p := pcapio.Packet{Timestamp: rec.Timestamp, OrigLen: rec.OrigLen, LinkType: rec.LinkType, Interface: ifIndex[rec.Interface], Data: rec.Data}
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
