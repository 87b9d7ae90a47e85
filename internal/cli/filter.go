package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/capture"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
)

func (a *app) filterCmd() *cobra.Command {
	var (
		linkType string
		level    int
		live     bool
		file     string
		iface    string
	)
	cmd := &cobra.Command{
		Use:   "filter [--link-type EN10MB | -r FILE] [-d | -dd | -ddd] EXPR...",
		Short: "Print the BPF program a filter compiles to, like tcpdump -d",
		Example: `  packetrecorder filter 'tcp port 80'
  packetrecorder filter --link-type LINUX_SLL -ddd 'udp and not port 53'
  packetrecorder filter --live 'vlan 100 and tcp'
  packetrecorder filter -r trace.pcap 'tcp[tcpflags] & tcp-syn != 0'   # how many of the file's packets match`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				if cmd.Flags().Changed("link-type") || live || level > 0 {
					return errors.New("-r counts a file's matching packets: --link-type, --live and -d do not apply")
				}
				return a.filterFile(cmd, file, strings.Join(args, " "))
			}
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
			// The netmask "ip broadcast" needs: the interface's, as tcpdump
			// -d -i IF; tcpdump's 0 otherwise.
			mask := filter.ZeroNetmask
			if iface != "" {
				var err error
				if lt, err = capture.LinkTypeOf(iface); err != nil {
					return err
				}
				if cmd.Flags().Changed("link-type") {
					return errors.New("-i compiles for the interface's link type: give -i or --link-type")
				}
				mask = filter.InterfaceNetmask(iface)
			}
			prog, err := filter.Compile(strings.Join(args, " "), filter.Options{LinkType: lt, Live: live, Netmask: mask})
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
	cmd.Flags().StringVarP(&iface, "interface", "i", "", "compile for this interface: its link type, and its netmask for 'ip broadcast' (as tcpdump -d -i)")
	cmd.Flags().StringVarP(&file, "read", "r", "", "check the filter on a capture file: print how many of its packets match (as tcpdump -r FILE EXPR | wc -l)")
	cmd.Flags().CountVarP(&level, "dump", "d", "-d: assembly (default), -dd: C array, -ddd: decimal, as tcpdump prints them")
	return cmd
}

// filterFile prints how many packets of a capture file the filter
// matches, compiled for each packet's link type.
func (a *app) filterFile(cmd *cobra.Command, file, expr string) error {
	sl, err := selpkg.Open(cmdContext(cmd), selpkg.Spec{File: file})
	if err != nil {
		return err
	}
	defer sl.Close()
	matched, total, err := sl.Tally(cmdContext(cmd), expr)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%d of %d packets match\n", matched, total)
	return err
}
