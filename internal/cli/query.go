package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
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
		sel      selection
		limit    int64
		showData bool
		asJSON   bool
		count    bool
	)
	cmd := &cobra.Command{
		Use:   "query (-s ID | -d STORE [--interface IF]) [flags]",
		Short: "Show a session's packets",
		Example: `  packetrecorder query -s 1
  packetrecorder query -s 1 -l 0 --filter 'tcp port 443' --show-data
  packetrecorder query -s 1 --filter 'udp port 53' --count
  packetrecorder query -d /var/lib/packetrecorder --interface eth0 --since 2026-12-04T10:00:00Z --until 2026-12-04T10:00:01Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("invalid limit %d: must be 0 (all) or more", limit)
			}
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
			return sl.walk(ctx, limit, func(rec store.Record) error {
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
		},
	}
	sel.addFlags(cmd)
	cmd.Flags().Int64VarP(&limit, "limit", "l", 10, "show at most this many packets (0 = all)")
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
