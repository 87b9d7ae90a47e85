package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
)

func (a *app) listInterfacesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list-interfaces",
		Aliases: []string{"interfaces"},
		Short:   "List the interfaces you can capture on",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ifs, err := capture.Interfaces()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ifs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINDEX\tMAC\tMTU\tFLAGS\tADDRESSES")
			for _, it := range ifs {
				mac := it.MAC
				if mac == "" {
					mac = "-"
				}
				mtu := "-"
				if it.MTU > 0 {
					mtu = fmt.Sprint(it.MTU)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", it.Name, it.Index, mac, mtu,
					strings.Join(it.Flags, ","), strings.Join(it.Addresses, " "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}
