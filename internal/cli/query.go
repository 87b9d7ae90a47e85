package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// queryOptions are query's flags.
type queryOptions struct {
	sel          selection
	limit        int64 // 0: all
	defaultLimit bool  // neither -c nor -l given
	showData     bool
	asJSON       bool
	count        bool
	hexLevel     int
	absSeq       bool
	verbose      bool
	tflag        int
	tcpdumpTime  bool
	explain      bool
	view         tcpdumpView
	filterFile   string // -F
}

func (o *queryOptions) addFlags(cmd *cobra.Command, maxPackets *int64) {
	o.sel.addFlags(cmd)
	cmd.Flags().Int64VarP(maxPackets, "max-packets", "c", 10, "stop after this many packets (0 = all), as tcpdump -c; with --count, count at most this many")
	cmd.Flags().Int64VarP(&o.limit, "limit", "l", 10, "the same as -c (an older spelling)")
	cmd.Flags().BoolP("numeric", "n", false, "accepted for tcpdump's habit: addresses and ports are never resolved")
	cmd.Flags().BoolVar(&o.showData, "show-data", false, "add a hex and ASCII dump of each packet, link header included (-XX)")
	cmd.Flags().CountVarP(&o.hexLevel, "hex", "X", "-X: a hex and ASCII dump of each packet after its link header, -XX: with it (as tcpdump)")
	cmd.Flags().BoolVarP(&o.absSeq, "absolute-tcp-sequence-numbers", "S", false, "TCP sequence numbers as they are, not relative to the connection's first (as tcpdump -S)")
	cmd.Flags().BoolVarP(&o.verbose, "verbose", "v", false, "add what tcpdump -v adds where it is decoded (the IP header's fields)")
	cmd.Flags().CountVarP(&o.tflag, "tcpdump-timestamps", "t", "tcpdump's lines with its time formats: -t none, -tt epoch seconds, -ttt since the previous packet, -tttt date and time, -ttttt since the first")
	cmd.Flags().BoolVar(&o.tcpdumpTime, "tcpdump", false, "tcpdump's lines with its default time format (HH:MM:SS.micro, local), for diff against tcpdump -n")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print one JSON object per packet")
	cmd.Flags().BoolVar(&o.count, "count", false, "print only the number of matching packets, as tcpdump --count")
	addTcpdumpViewFlags(cmd, &o.view)
	addNanoFlag(cmd, &o.view)
	cmd.Flags().StringVarP(&o.filterFile, "filter-file", "F", "", "take the filter from this file ('#' starts a comment), as tcpdump -F; an expression after the flags is then ignored")
	cmd.Flags().BoolVar(&o.explain, "explain", false, "print how the selection is read: the block index's plan of the filter, and the blocks and bytes read out of those in the window")
}

// parse checks the flags and takes the filter from the arguments.
func (o *queryOptions) parse(cmd *cobra.Command, args []string, maxPackets int64) error {
	o.view.tflag, o.view.hexA = o.tflag, o.hexLevel
	if err := o.view.check(); err != nil {
		return err
	}
	o.hexLevel = o.view.hexA
	args, err := useFilterFile(o.filterFile, &o.sel.filter, args, func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), s) })
	if err != nil {
		return err
	}
	if o.count && len(args) == 1 && isCount(args[0]) {
		return fmt.Errorf("--count takes no number (it prints how many packets match): stop after %s packets with -c %s", args[0], args[0])
	}
	if err := o.sel.filterArgs(args); err != nil {
		return err
	}
	if cmd.Flags().Changed("max-packets") {
		if cmd.Flags().Changed("limit") && maxPackets != o.limit {
			return errors.New("-c and -l both say how many packets to show: give one")
		}
		o.limit = maxPackets
	}
	if o.limit < 0 {
		return fmt.Errorf("invalid limit %d: must be 0 (all) or more", o.limit)
	}
	o.defaultLimit = !cmd.Flags().Changed("limit") && !cmd.Flags().Changed("max-packets")
	return nil
}

func (a *app) queryCmd() *cobra.Command {
	var (
		opts       queryOptions
		maxPackets int64
	)
	cmd := &cobra.Command{
		Use:   "query (-s ID | -d STORE [--interface IF] | -r FILE | --server URL) [flags] [FILTER...]",
		Short: "Show a session's packets",
		Example: `  packetrecorder query -s 1
  packetrecorder query -s 1 -c 0 tcp port 443 --show-data
  packetrecorder query -r trace.pcapng.gz -c 20 'icmp or arp'
  packetrecorder query -d /var/lib/packetrecorder --since "5m ago" --interface eth0
  packetrecorder query -s 1 --filter 'udp port 53' --count
  packetrecorder query -d /var/lib/packetrecorder --interface eth0 --since 2026-12-04T10:00:00Z --until 2026-12-04T10:00:01Z`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.parse(cmd, args, maxPackets); err != nil {
				return err
			}
			return a.runQuery(cmdContext(cmd), &opts)
		},
	}
	opts.addFlags(cmd, &maxPackets)
	return cmd
}

// cmdContext is the command's context (Background when it has none).
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// runQuery prints the selection's packets (or their number).
func (a *app) runQuery(ctx context.Context, o *queryOptions) error {
	limit := o.limit
	sl, err := o.sel.open()
	if err != nil {
		return err
	}
	defer sl.Close()
	defer a.planWarning(sl.Selection)
	if o.explain {
		return a.explain(ctx, sl.Selection)
	}
	if o.count {
		n, err := sl.Count(ctx)
		if err != nil {
			return err
		}
		if !o.defaultLimit && limit > 0 {
			n = min(n, limit) // as tcpdump --count -c N
		}
		fmt.Fprintln(a.stdout, n)
		return a.partialAnswer(sl.Missing(), o.sel.remote.PartialOK)
	}
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	defer out.Flush()
	hexLevel := o.hexLevel
	if hexLevel > 0 && o.showData {
		return errors.New("--show-data is -XX: give one of -X, -XX, --show-data")
	}
	if o.showData {
		hexLevel = 2
	}
	sum := decode.NewSummarizerOptions(decode.Options{AbsoluteSeq: o.absSeq, Verbose: o.verbose, Quiet: o.view.qflag, Link: o.view.eflag})
	sum.InterfaceName = localInterfaceName()
	tcpdumpLines := o.tcpdumpTime || o.view.lines()
	view := o.view
	view.hexA = hexLevel
	var first, prev int64
	enc := json.NewEncoder(out)
	// Where packets may be of several interfaces, each line says
	// whose; merged sessions number packets SESSION:N, as each
	// session numbers its own.
	showIface := sl.SeveralInterfaces()
	// At the default limit, one more packet tells whether there are more.
	walkLimit, shown, more := limit, int64(0), false
	if o.defaultLimit && limit > 0 {
		walkLimit = limit + 1
	}
	err = sl.Walk(ctx, walkLimit, func(rec store.Record) error {
		if shown == limit && limit > 0 {
			more = true
			return store.ErrStop
		}
		shown++
		summary := sum.Summary(rec.LinkType, rec.Data, rec.OrigLen)
		ts := time.Unix(0, rec.Timestamp)
		if o.asJSON {
			p := selpkg.NewPacketJSON(rec, summary, sl.InterfaceName(rec))
			p.Session = sl.SessionOf(rec)
			if hexLevel > 0 {
				p.Data = hex.EncodeToString(rec.Data)
			}
			return enc.Encode(p)
		}
		if shown == 1 {
			first, prev = rec.Timestamp, rec.Timestamp
		}
		if tcpdumpLines {
			// tcpdump's own line, for diff: its time format, no number.
			stamp := view.stamp(rec.Timestamp, prev, first)
			prev = rec.Timestamp
			return view.writePacket(out, shown, stamp, rec.LinkType, rec.Data, rec.OrigLen, summary)
		} else if showIface {
			number := strconv.FormatInt(rec.Number, 10)
			if id := sl.SessionOf(rec); id != 0 {
				number = strconv.FormatInt(id, 10) + ":" + number
			}
			fmt.Fprintf(out, "%s %s %s %s\n", number, dash(printable(sl.InterfaceName(rec))), ts.Local().Format("2006-01-02 15:04:05.000000000"), summary)
		} else {
			fmt.Fprintf(out, "%d %s %s\n", rec.Number, ts.Local().Format("2006-01-02 15:04:05.000000000"), summary)
		}
		switch hexLevel {
		case 1:
			return decode.HexDump(out, rec.Data[linkHeaderLen(rec.LinkType, rec.Data):])
		case 2:
			return decode.HexDump(out, rec.Data)
		}
		return nil
	})
	if err == nil {
		out.Flush()
		err = a.partialAnswer(sl.Missing(), o.sel.remote.PartialOK)
	}
	if err != nil || !more {
		return err
	}
	out.Flush()
	if sl.Indexed() {
		// The block index counts the rest without reading it.
		if total, err := sl.Count(ctx); err == nil {
			fmt.Fprintf(a.stderr, "%d of %d packets; -c 0 for all\n", shown, total)
			return nil
		}
	}
	fmt.Fprintf(a.stderr, "the first %d packets; more match; -c 0 for all\n", shown)
	return nil
}

// planWarning says on stderr where the block index could not answer
// (blocks without an index entry, a database of an older schema): the
// answer is whole, those blocks were read.
func (a *app) planWarning(sl *selpkg.Selection) {
	st := sl.PlanStats()
	if w := st.Warning(); w != "" {
		fmt.Fprintln(a.stderr, "warning: "+w)
	}
}

// explain walks the selection and prints how it was read: the plan the
// block index followed, and the blocks and bytes read out of those in the
// window.
func (a *app) explain(ctx context.Context, sl *selpkg.Selection) error {
	var n int64
	if err := sl.Walk(ctx, 0, func(store.Record) error { n++; return nil }); err != nil {
		return err
	}
	st := sl.PlanStats()
	fmt.Fprintf(a.stdout, "plan: %s\n", sl.Plan())
	fmt.Fprintf(a.stdout, "packets: %d\n", n)
	if st.Blocks == 0 && !st.NoIndex && st.Segments == 0 {
		fmt.Fprintln(a.stdout, "blocks: no block was planned (a capture file, a daemon's API, or no filter: every block of the window is read)")
		return nil
	}
	fmt.Fprintf(a.stdout, "blocks read: %d of %d (%s)\n", st.Read, st.Blocks, percent(st.Read, st.Blocks))
	fmt.Fprintf(a.stdout, "bytes read: %d of %d (%s)\n", st.ReadBytes, st.Bytes, percent(st.ReadBytes, st.Bytes))
	if st.Unindexed > 0 || st.NoIndex {
		fmt.Fprintf(a.stdout, "unindexed blocks read whole: %d\n", st.Unindexed)
	}
	if st.Segments > 0 {
		fmt.Fprintf(a.stdout, "segments skipped by the catalog: %d of %d closed (%d without a usable summary, opened)\n", st.SegmentsSkipped, st.Segments, st.Unsummarized)
	}
	return nil
}

func percent(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 2, 64) + "%"
}

// localInterfaceName names interface indexes after this host's interfaces,
// as tcpdump does when it prints LINUX_SLL2 packets ("" when there is no
// such index here). Names are looked up once per index.
func localInterfaceName() func(uint32) string {
	names := map[uint32]string{}
	return func(index uint32) string {
		name, ok := names[index]
		if !ok {
			if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
				name = ifi.Name
			}
			names[index] = name
		}
		return name
	}
}

// tcpdumpStamp is a packet's time as tcpdump prints it before the summary:
// tflag 0 is its default (local HH:MM:SS.micro), 1 to 5 are -t to -ttttt.
func tcpdumpStamp(tflag int, ts, prev, first int64) string {
	t := time.Unix(0, ts)
	switch tflag {
	case 0:
		return t.Local().Format("15:04:05.000000 ")
	case 1:
		return ""
	case 2:
		sec, us := ts/1e9, (ts%1e9)/1e3
		if ts < 0 && ts%1e9 != 0 {
			sec, us = sec-1, (ts%1e9+1e9)/1e3
		}
		return fmt.Sprintf("%d.%06d ", sec, us)
	case 3:
		return delta(usec(ts) - usec(prev))
	case 5:
		return delta(usec(ts) - usec(first))
	default:
		return t.Local().Format("2006-01-02 15:04:05.000000 ")
	}
}

// usec is ts truncated to the microsecond, as libpcap reads a time at
// microsecond precision.
func usec(ts int64) int64 { return floorDiv(ts, 1e3) * 1e3 }

// delta is a time difference as tcpdump -ttt prints it.
func delta(d int64) string {
	sign := " "
	if d < 0 {
		sign, d = "-", -d
	}
	us := d / 1e3
	return fmt.Sprintf("%s%02d:%02d:%02d.%06d ", sign, us/3600e6, us/60e6%60, us/1e6%60, us%1e6)
}

// linkHeaderLen is how many bytes of data are the link-layer header,
// which tcpdump -X leaves out of its dump: Ethernet (with its VLAN tags),
// Linux cooked headers, BSD loopback; 0 where the packet starts with IP.
func linkHeaderLen(linkType uint32, data []byte) int {
	n := 0
	switch linkType {
	case 1: // EN10MB
		n = 14
		for n+4 <= len(data) && n >= 14 {
			et := uint16(data[n-2])<<8 | uint16(data[n-1])
			if et != 0x8100 && et != 0x88a8 && et != 0x9100 {
				break
			}
			n += 4
		}
		// An 802.3 frame (a length, not an ethertype): its LLC header
		// (3 bytes, 4 for an I or S frame) and a SNAP header after it
		// are link-layer too, for tcpdump.
		if n >= 14 && n+3 <= len(data) && uint16(data[n-2])<<8|uint16(data[n-1]) <= 1500 {
			dsap, ssap, control := data[n], data[n+1], data[n+2]
			if control&3 == 3 {
				n += 3
			} else {
				n += 4
			}
			if dsap == 0xaa && ssap == 0xaa && control == 3 {
				n += 5
			}
		}
	case 113: // LINUX_SLL
		n = 16
	case 276: // LINUX_SLL2
		n = 20
	case 0, 108: // NULL, LOOP
		n = 4
	}
	return min(n, len(data))
}

// isCount reports whether s is a number of packets: query --count 5
// meant -c 5.
func isCount(s string) bool {
	_, err := strconv.ParseUint(s, 10, 63)
	return err == nil
}
