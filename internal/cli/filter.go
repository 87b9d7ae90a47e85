package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
)

func (a *app) filterCmd() *cobra.Command {
	var (
		linkType string
		level    int
		live     bool
	)
	cmd := &cobra.Command{
		Use:   "filter [--link-type EN10MB] [-d | -dd | -ddd] EXPR...",
		Short: "Print the BPF program a filter compiles to, like tcpdump -d",
		Example: `  packetrecorder filter 'tcp port 80'
  packetrecorder filter --link-type LINUX_SLL -ddd 'udp and not port 53'
  packetrecorder filter --live 'vlan 100 and tcp'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lt, ok := filter.LinkTypeByName(linkType)
			if !ok {
				return fmt.Errorf("unknown link type %q (use a name such as EN10MB, LINUX_SLL, RAW)", linkType)
			}
			// As with tcpdump, -d, -dd and -ddd pick the output format.
			style := filter.StyleD
			switch level {
			case 0, 1:
			case 2:
				style = filter.StyleDD
			case 3:
				style = filter.StyleDDD
			default:
				return errors.New("use -d, -dd or -ddd")
			}
			prog, err := filter.Compile(strings.Join(args, " "), filter.Options{LinkType: lt, Live: live})
			if err != nil {
				return err
			}
			insns := prog.Instructions()
			if live {
				insns = prog.KernelInstructions()
			}
			_, err = fmt.Fprint(a.stdout, filter.Format(insns, style))
			return err
		},
	}
	cmd.Flags().StringVarP(&linkType, "link-type", "y", "EN10MB", "link type to compile for (tcpdump -y names)")
	cmd.Flags().BoolVar(&live, "live", false, "print the program a live capture attaches to its socket (as tcpdump -d -i IFACE does)")
	cmd.Flags().CountVarP(&level, "dump", "d", "-d: assembly (default), -dd: C array, -ddd: decimal, as tcpdump prints them")
	return cmd
}
