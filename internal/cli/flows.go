package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// flowsOptions are the flags of flows besides the selection.
type flowsOptions struct {
	limit     int64
	sortBy    string
	asJSON    bool
	tableSize int
}

func (a *app) flowsCmd() *cobra.Command {
	var (
		sel  selection
		opts flowsOptions
	)
	cmd := &cobra.Command{
		Use:   "flows (-s ID | -d STORE [--interface IF] | -r FILE) [flags] [FILTER...]",
		Short: "List the connections in a selection, with their Community IDs",
		Long: `flows lists the selection's flows: one row per bidirectional 5-tuple (other
IP protocols: address pair and protocol; ICMP echo and reply together), counted
as tshark -z conv,tcp and conv,udp count conversations: packets and bytes (frame
lengths on the wire) each way, the TCP flags seen, and the flow's Community ID
(version 1). Tunnelled traffic (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP, Teredo) is
listed by its inner 5-tuple, as Zeek and Suricata list it.

A filter selects flows: a flow is listed, with all its packets in the time
window, when any of its packets matches.`,
		Example: `  packetrecorder flows -s 1
  packetrecorder flows -r trace.pcap --sort bytes -l 5
  packetrecorder flows -d /var/lib/packetrecorder --since "1h ago" host 10.0.0.5
  packetrecorder flows -s 1 --community-id '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.filterArgs(args); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return a.runFlows(ctx, &sel, opts)
		},
	}
	sel.addFlags(cmd)
	cmd.Flags().Int64VarP(&opts.limit, "limit", "l", 20, "show at most this many flows (0 = all)")
	cmd.Flags().StringVar(&opts.sortBy, "sort", "start", "order: start (earliest first), packets, bytes or duration (largest first)")
	cmd.Flags().BoolVar(&opts.asJSON, "json", false, `print one JSON object per flow, then {"end": {...}}`)
	cmd.Flags().IntVar(&opts.tableSize, "table-size", 1<<20, "most flows held at once; beyond it the least recently active is listed early (and may appear again)")
	return cmd
}

// flowsEnd is the last JSON line of flows --json.
type flowsEnd struct {
	Flows        int64  `json:"flows"`         // flows listed or not (-l)
	Shown        int64  `json:"shown"`         // flows printed
	Packets      uint64 `json:"packets"`       // of the flows (all, not only those shown)
	Bytes        uint64 `json:"bytes"`         // of the flows, frame lengths
	PacketsRead  uint64 `json:"packets_read"`  // packets of the selection's time window
	OtherPackets uint64 `json:"other_packets"` // not IP: in no flow
	Evicted      uint64 `json:"evicted"`       // flows ended early by a full table
}

// flowJSON is one line of flows --json. For ICMP, sport is the type and
// dport the code of the initiator's first message.
type flowJSON struct {
	CommunityID string `json:"community_id"`
	Proto       string `json:"proto"`
	IPProto     uint8  `json:"ip_proto"`
	Src         string `json:"src"`
	Sport       uint16 `json:"sport"`
	Dst         string `json:"dst"`
	Dport       uint16 `json:"dport"`
	FirstNS     int64  `json:"first_ns"`
	LastNS      int64  `json:"last_ns"`
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	SrcPackets  uint64 `json:"src_packets"` // sent by src (the initiator)
	SrcBytes    uint64 `json:"src_bytes"`
	DstPackets  uint64 `json:"dst_packets"` // sent by dst
	DstBytes    uint64 `json:"dst_bytes"`
	TCPFlags    uint8  `json:"tcp_flags"` // the header's flag bits seen, ORed
}

// flowLess orders flows for --sort; ties go to the earlier start.
func flowLess(sortBy string) (func(a, b *flow.Flow) int, error) {
	start := func(a, b *flow.Flow) int {
		return cmp.Or(cmp.Compare(a.FirstNS, b.FirstNS), cmp.Compare(a.LastNS, b.LastNS),
			a.Key.Src.Compare(b.Key.Src), cmp.Compare(a.Key.SrcPort, b.Key.SrcPort),
			a.Key.Dst.Compare(b.Key.Dst), cmp.Compare(a.Key.DstPort, b.Key.DstPort), cmp.Compare(a.Key.Proto, b.Key.Proto))
	}
	switch sortBy {
	case "start":
		return start, nil
	case "packets":
		return func(a, b *flow.Flow) int { return cmp.Or(cmp.Compare(b.TotalPackets(), a.TotalPackets()), start(a, b)) }, nil
	case "bytes":
		return func(a, b *flow.Flow) int { return cmp.Or(cmp.Compare(b.TotalBytes(), a.TotalBytes()), start(a, b)) }, nil
	case "duration":
		return func(a, b *flow.Flow) int {
			return cmp.Or(cmp.Compare(b.LastNS-b.FirstNS, a.LastNS-a.FirstNS), start(a, b))
		}, nil
	}
	return nil, fmt.Errorf("invalid --sort %q: start, packets, bytes or duration", sortBy)
}

// runFlows lists the selection's flows. Without a filter the selection is
// walked once; with one, twice: first for the packets that match, then
// every packet of the window, to count the flows whole and list those
// that hold a matching packet.
func (a *app) runFlows(ctx context.Context, sel *selection, opts flowsOptions) error {
	if opts.limit < 0 {
		return fmt.Errorf("invalid limit %d: must be 0 (all) or more", opts.limit)
	}
	order, err := flowLess(opts.sortBy)
	if err != nil {
		return err
	}
	var want flow.CommunityID
	if sel.communityID != "" {
		if want, err = flow.ParseCommunityID(sel.communityID); err != nil {
			return fmt.Errorf("--community-id: %w", err)
		}
	}
	if opts.tableSize < 1 {
		return fmt.Errorf("invalid --table-size %d: must be 1 or more", opts.tableSize)
	}
	var matches map[matchID]bool
	if sel.filter != "" {
		if sel.file == "-" {
			return errors.New("flows with a filter reads the capture twice: give a file, not standard input")
		}
		if matches, err = matchingPackets(ctx, sel); err != nil {
			return err
		}
	}
	all := *sel
	all.filter = ""
	sl, err := all.open()
	if err != nil {
		return err
	}
	defer sl.Close()

	var end flowsEnd
	kept := make([]flow.Flow, 0, 64)
	keep := func(f *flow.Flow) {
		if !want.IsZero() && f.CommunityID != want {
			return
		}
		if matches != nil && !f.Marked {
			return
		}
		end.Flows++
		end.Packets += f.TotalPackets()
		end.Bytes += f.TotalBytes()
		kept = append(kept, *f)
		// Only the first -l flows of the order are printed: keep a bounded
		// number, sorting and cutting as they come.
		if opts.limit > 0 && int64(len(kept)) >= 2*opts.limit+1024 {
			slices.SortFunc(kept, func(x, y flow.Flow) int { return order(&x, &y) })
			kept = kept[:opts.limit]
		}
	}
	table, err := flow.NewTable(flow.Config{Size: opts.tableSize, IdleTimeout: -1, Linger: -1, Seed: sel.cidSeed, Emit: keep})
	if err != nil {
		return err
	}
	var p flow.Packet
	err = sl.Walk(ctx, 0, func(rec store.Record) error {
		end.PacketsRead++
		if !flow.Extract(rec.LinkType, rec.Data, &p) {
			end.OtherPackets++
			return nil
		}
		f := table.Add(rec.Timestamp, &p, rec.OrigLen)
		if matches[matchID{rec.Timestamp, p.Key}] {
			f.Marked = true // a packet the filter selects: the flow is listed
		}
		return nil
	})
	if err != nil {
		return err
	}
	table.Flush()
	end.Evicted = table.Stats().Evicted
	slices.SortFunc(kept, func(x, y flow.Flow) int { return order(&x, &y) })
	if opts.limit > 0 && int64(len(kept)) > opts.limit {
		kept = kept[:opts.limit]
	}
	end.Shown = int64(len(kept))

	out := bufio.NewWriterSize(a.stdout, 64<<10)
	defer out.Flush()
	if opts.asJSON {
		enc := json.NewEncoder(out)
		for i := range kept {
			if err := enc.Encode(newFlowJSON(&kept[i])); err != nil {
				return err
			}
		}
		return enc.Encode(map[string]flowsEnd{"end": end})
	}
	if err := printFlows(out, kept); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if end.Evicted > 0 {
		fmt.Fprintf(a.stderr, "%d flows did not fit in the table (--table-size %d) and were listed early: a 5-tuple may be listed more than once\n", end.Evicted, opts.tableSize)
	}
	if end.Shown < end.Flows {
		fmt.Fprintf(a.stderr, "%d of %d flows; -l 0 for all\n", end.Shown, end.Flows)
	}
	return nil
}

// matchID names a packet: its time and its own key (before fragments
// are joined to their flows).
type matchID struct {
	ts  int64
	key flow.Key
}

// matchingPackets walks the selection with its filter and returns the
// packets that match.
func matchingPackets(ctx context.Context, sel *selection) (map[matchID]bool, error) {
	sl, err := sel.open()
	if err != nil {
		return nil, err
	}
	defer sl.Close()
	m := map[matchID]bool{}
	var p flow.Packet
	err = sl.Walk(ctx, 0, func(rec store.Record) error {
		if flow.Extract(rec.LinkType, rec.Data, &p) {
			m[matchID{rec.Timestamp, p.Key}] = true
		}
		return nil
	})
	return m, err
}

func newFlowJSON(f *flow.Flow) flowJSON {
	return flowJSON{
		CommunityID: f.CommunityID.String(), Proto: flow.ProtoName(f.Key.Proto), IPProto: f.Key.Proto,
		Src: f.Key.Src.String(), Sport: f.Key.SrcPort, Dst: f.Key.Dst.String(), Dport: f.Key.DstPort,
		FirstNS: f.FirstNS, LastNS: f.LastNS, Packets: f.TotalPackets(), Bytes: f.TotalBytes(),
		SrcPackets: f.Packets[0], SrcBytes: f.Bytes[0], DstPackets: f.Packets[1], DstBytes: f.Bytes[1],
		TCPFlags: f.TCPFlags,
	}
}

// printFlows writes the table for people, in the manner of tshark's
// conversation statistics: the initiator's side first, "->" counts what
// it sent, "<-" what it received.
func printFlows(w io.Writer, flows []flow.Flow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "START\tDURATION\tPROTO\tINITIATOR\tRESPONDER\tPKTS ->\tBYTES ->\tPKTS <-\tBYTES <-\tFLAGS\tCOMMUNITY ID")
	for i := range flows {
		f := &flows[i]
		// ICMP's "ports" are the first message's type and code: shown
		// under FLAGS, not as ports.
		ports := f.Key.HasPorts && f.Key.Proto != flow.ProtoICMP && f.Key.Proto != flow.ProtoICMPv6
		fmt.Fprintf(tw, "%s\t%.6f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n",
			time.Unix(0, f.FirstNS).Local().Format("2006-01-02 15:04:05.000000000"),
			float64(f.LastNS-f.FirstNS)/1e9, flow.ProtoName(f.Key.Proto),
			endpoint(f.Key.Src, f.Key.SrcPort, ports), endpoint(f.Key.Dst, f.Key.DstPort, ports),
			f.Packets[0], f.Bytes[0], f.Packets[1], f.Bytes[1], tcpFlagLetters(f), f.CommunityID)
	}
	return tw.Flush()
}

// endpoint is addr:port ([v6]:port), or the address alone.
func endpoint(a netip.Addr, port uint16, hasPort bool) string {
	if !hasPort {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// tcpFlagLetters are the TCP flags seen as tcpdump names them (S F R P
// U E W, "." for ACK); for ICMP the first message's type and code; "-"
// for other protocols.
func tcpFlagLetters(f *flow.Flow) string {
	switch {
	case (f.Key.Proto == flow.ProtoICMP || f.Key.Proto == flow.ProtoICMPv6) && f.Key.HasPorts:
		return fmt.Sprintf("type %d code %d", f.Key.SrcPort, f.Key.DstPort)
	case f.Key.Proto != flow.ProtoTCP:
		return "-"
	}
	var b []byte
	for _, x := range []struct {
		bit    uint8
		letter byte
	}{{flow.SYN, 'S'}, {flow.FIN, 'F'}, {flow.RST, 'R'}, {flow.PSH, 'P'}, {flow.URG, 'U'}, {flow.ECE, 'E'}, {flow.CWR, 'W'}, {flow.ACK, '.'}} {
		if f.TCPFlags&x.bit != 0 {
			b = append(b, x.letter)
		}
	}
	if len(b) == 0 {
		return "none"
	}
	return string(b)
}
