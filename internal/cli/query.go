package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/decode"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
)

func (a *app) queryCmd() *cobra.Command {
	var (
		sel        selection
		limit      int64
		showData   bool
		asJSON     bool
		count      bool
		maxPackets int64
	)
	cmd := &cobra.Command{
		Use:   "query (-s ID | -d STORE [--interface IF] | -r FILE | --server URL) [flags] [FILTER...]",
		Short: "Show a session's packets",
		Example: `  packetrecorder query -s 1
  packetrecorder query -s 1 -l 0 tcp port 443 --show-data
  packetrecorder query -r trace.pcapng.gz -c 20 'icmp or arp'
  packetrecorder query -d /var/lib/packetrecorder --since "5m ago" --interface eth0
  packetrecorder query -s 1 --filter 'udp port 53' --count
  packetrecorder query -d /var/lib/packetrecorder --interface eth0 --since 2026-12-04T10:00:00Z --until 2026-12-04T10:00:01Z`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.filterArgs(args); err != nil {
				return err
			}
			if cmd.Flags().Changed("max-packets") {
				if cmd.Flags().Changed("limit") && maxPackets != limit {
					return errors.New("-c and -l both say how many packets to show: give one")
				}
				limit = maxPackets
			}
			if limit < 0 {
				return fmt.Errorf("invalid limit %d: must be 0 (all) or more", limit)
			}
			defaultLimit := !cmd.Flags().Changed("limit") && !cmd.Flags().Changed("max-packets")
			sl, err := sel.open()
			if err != nil {
				return err
			}
			defer sl.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if count {
				n, err := sl.count(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, n)
				return nil
			}
			out := bufio.NewWriterSize(a.stdout, 64<<10)
			defer out.Flush()
			sum := decode.NewSummarizer()
			sum.InterfaceName = localInterfaceName()
			enc := json.NewEncoder(out)
			// A store's packets of several interfaces say whose they are.
			showIface := len(sl.interfaceNames()) > 1
			// At the default limit, one more packet tells whether there are more.
			walkLimit, shown, more := limit, int64(0), false
			if defaultLimit && limit > 0 {
				walkLimit = limit + 1
			}
			err = sl.walk(ctx, walkLimit, func(rec store.Record) error {
				if shown == limit && limit > 0 {
					more = true
					return store.ErrStop
				}
				shown++
				summary := sum.Summary(rec.LinkType, rec.Data, rec.OrigLen)
				ts := time.Unix(0, rec.Timestamp)
				if asJSON {
					p := storeview.NewPacketJSON(rec, summary, sl.interfaceName(rec))
					if showData {
						p.Data = hex.EncodeToString(rec.Data)
					}
					return enc.Encode(p)
				}
				if showIface {
					fmt.Fprintf(out, "%d %s %s %s\n", rec.Number, sl.interfaceName(rec), ts.Local().Format("2006-01-02 15:04:05.000000000"), summary)
				} else {
					fmt.Fprintf(out, "%d %s %s\n", rec.Number, ts.Local().Format("2006-01-02 15:04:05.000000000"), summary)
				}
				if showData {
					return decode.HexDump(out, rec.Data)
				}
				return nil
			})
			if err != nil || !more {
				return err
			}
			out.Flush()
			if sl.prog == nil && (sl.view == nil || sl.view.Filter == nil) && sl.file == nil {
				// The block index counts the rest without reading it.
				if total, err := sl.count(ctx); err == nil {
					fmt.Fprintf(a.stderr, "%d of %d packets; -l 0 for all\n", shown, total)
					return nil
				}
			}
			fmt.Fprintf(a.stderr, "the first %d packets; more match; -l 0 for all\n", shown)
			return nil
		},
	}
	sel.addFlags(cmd)
	cmd.Flags().Int64VarP(&limit, "limit", "l", 10, "show at most this many packets (0 = all)")
	cmd.Flags().Int64VarP(&maxPackets, "max-packets", "c", 10, "the same as -l, as tcpdump -c")
	cmd.Flags().BoolP("numeric", "n", false, "accepted for tcpdump's habit: addresses and ports are never resolved")
	cmd.Flags().BoolVar(&showData, "show-data", false, "add a hex and ASCII dump of each packet")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per packet")
	cmd.Flags().BoolVar(&count, "count", false, "print only the number of matching packets")
	return cmd
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
