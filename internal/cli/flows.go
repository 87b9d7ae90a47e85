package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
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
		Use:   "flows (-s ID | -d STORE [--interface IF] | -r FILE | --server URL [--interface IF]) [flags] [FILTER...]",
		Short: "List the connections in a selection, with their Community IDs",
		Long: `flows lists the selection's flows: one row per bidirectional 5-tuple (other
IP protocols: address pair and protocol; ICMP echo and reply together), counted
as tshark -z conv,tcp and conv,udp count conversations: packets and bytes (frame
lengths on the wire) each way, the TCP flags seen, and the flow's Community ID
(version 1). Tunnelled traffic (VXLAN, GENEVE, GRE, ERSPAN, IP-in-IP, Teredo) is
listed by its inner 5-tuple, as Zeek and Suricata list it.

A filter selects flows: a flow is listed, with all its packets in the time
window, when any of its packets matches.

With --server the daemon lists the flows (GET /api/v1/flows) and sends
only them, never the packets; a token's filter limits the packets they
are counted over.`,
		Example: `  packetrecorder flows -s 1
  packetrecorder flows -r trace.pcap --sort bytes -l 5
  packetrecorder flows -d /var/lib/packetrecorder --since "1h ago" host 10.0.0.5
  packetrecorder flows -s 1 --community-id '1:LQU9qZlK+B5F3KDmev6m5PMibrg=' --json
  packetrecorder flows --server https://sensor1:7474 --cacert ca.pem --since "10m ago" port 53`,
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

// runFlows lists the selection's flows (selection.ListFlows: locally, or
// a daemon's over GET /api/v1/flows) and prints them.
func (a *app) runFlows(ctx context.Context, sel *selection, opts flowsOptions) error {
	if opts.limit < 0 {
		return fmt.Errorf("invalid limit %d: must be 0 (all) or more", opts.limit)
	}
	if !slices.Contains(selpkg.FlowSorts, opts.sortBy) {
		return fmt.Errorf("invalid --sort %q: start, packets, bytes or duration", opts.sortBy)
	}
	if opts.tableSize < 1 {
		return fmt.Errorf("invalid --table-size %d: must be 1 or more", opts.tableSize)
	}
	if sel.communityID != "" {
		if _, err := flow.ParseCommunityID(sel.communityID); err != nil {
			return fmt.Errorf("--community-id: %w", err)
		}
	}
	spec, err := sel.spec()
	if err != nil {
		return err
	}
	if spec.Server.Server != "" && sel.flags != nil && sel.flags.Changed("table-size") {
		return errors.New("--table-size sizes a local listing; a daemon lists with its own table")
	}
	list, err := selpkg.ListFlows(ctx, spec, selpkg.FlowOptions{Sort: opts.sortBy, Limit: opts.limit, TableSize: opts.tableSize}, nil)
	if err != nil {
		return err
	}
	end := list.End

	out := bufio.NewWriterSize(a.stdout, 64<<10)
	defer out.Flush()
	if opts.asJSON {
		enc := json.NewEncoder(out)
		for i := range list.Flows {
			if err := enc.Encode(&list.Flows[i]); err != nil {
				return err
			}
		}
		if err := enc.Encode(map[string]selpkg.FlowsEnd{"end": end}); err != nil {
			return err
		}
		out.Flush()
		return a.partialAnswer(end.Missing, sel.remote.PartialOK)
	}
	if err := printFlows(out, list.Flows); err != nil {
		return err
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if end.Evicted > 0 {
		size := fmt.Sprintf("--table-size %d", opts.tableSize)
		if spec.Server.Server != "" {
			size = "the daemon's table"
		}
		fmt.Fprintf(a.stderr, "%d flows did not fit in the table (%s) and were listed early: a 5-tuple may be listed more than once\n", end.Evicted, size)
	}
	if end.Shown < end.Flows {
		fmt.Fprintf(a.stderr, "%d of %d flows; -l 0 for all\n", end.Shown, end.Flows)
	}
	return a.partialAnswer(end.Missing, sel.remote.PartialOK)
}

// printFlows writes the table for people, in the manner of tshark's
// conversation statistics: the initiator's side first, "->" counts what
// it sent, "<-" what it received.
func printFlows(w io.Writer, flows []selpkg.Flow) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	// A recorder's cutoff stored less than was seen of some flows: what
	// is stored, and whether the flow was cut, follow.
	cut := slices.ContainsFunc(flows, func(f selpkg.Flow) bool { return f.Cut })
	head := "START\tDURATION\tPROTO\tINITIATOR\tRESPONDER\tPKTS ->\tBYTES ->\tPKTS <-\tBYTES <-\tFLAGS\tCOMMUNITY ID"
	if cut {
		head += "\tSTORED PKTS\tSTORED BYTES\tCUT"
	}
	fmt.Fprintln(tw, head)
	for i := range flows {
		f := &flows[i]
		src, dst := f.Endpoints() // ICMP's type and code under FLAGS
		fmt.Fprintf(tw, "%s\t%.6f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s",
			time.Unix(0, f.FirstNS).Local().Format("2006-01-02 15:04:05.000000000"),
			float64(f.LastNS-f.FirstNS)/1e9, f.Proto, src, dst,
			f.SrcPackets, f.SrcBytes, f.DstPackets, f.DstBytes, f.FlagLetters(), f.CommunityID)
		if cut {
			c := "-"
			if f.Cut {
				c = "cut"
			}
			fmt.Fprintf(tw, "\t%d\t%d\t%s", f.StoredPackets, f.StoredBytes, c)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
