package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
)

func (a *app) statusCmd() *cobra.Command {
	var remote remoteFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status --server URL",
		Short: "Show a running daemon's interfaces, store and retention",
		Example: `  packetrecorder status --server http://127.0.0.1:7474
  PACKETRECORDER_TOKEN=... packetrecorder status --server https://sensor1:7474 --cacert ca.pem --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if remote.Server == "" {
				return errors.New("status asks a running daemon: give --server URL (its listen: address)")
			}
			c, err := selpkg.Dial(remote.Remote)
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.GetJSON(cmd.Context(), "/api/v1/status", nil, &raw); err != nil {
				return err
			}
			if hs, ok := hubStatusOf(raw); ok {
				// A hub's: PostgreSQL and each sensor.
				if asJSON {
					if _, err := fmt.Fprintf(a.stdout, "%s\n", raw); err != nil {
						return err
					}
				} else if err := a.printHubStatus(hs); err != nil {
					return err
				}
				return a.partialAnswer(hs.missing(), remote.PartialOK)
			}
			if asJSON {
				_, err := fmt.Fprintf(a.stdout, "%s\n", raw)
				return err
			}
			var st daemon.Status
			if err := json.Unmarshal(raw, &st); err != nil {
				return fmt.Errorf("%s: bad answer: %w", c.Host(), err)
			}
			return a.printStatus(st)
		},
	}
	remote.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the daemon's JSON as it sent it")
	return cmd
}

func (a *app) printStatus(st daemon.Status) error {
	fmt.Fprintf(a.stdout, "packetrecorder %s, up since %s\n\n", st.Version, st.StartedAt.Local().Format("2006-01-02 15:04:05"))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INTERFACE\tSTATE\tRINGS\tPACKETS\tBYTES\tKERNEL DROPS\tAPP DROPS\tFILTER")
	for _, it := range st.Interfaces {
		state := it.State
		if it.Error != "" {
			state += " (" + it.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", printable(it.Name), state, it.Rings, it.Packets, it.Bytes, it.Drops.Kernel, it.Drops.App, dash(printable(it.Filter)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, it := range st.Interfaces {
		if n := it.CompressionSkipped; n > 0 {
			fmt.Fprintf(a.stdout, "%s: %d %s stored uncompressed: the writer fell behind (compression skipped to keep up)\n", printable(it.Name), n, plural(n, "block"))
		}
	}
	s := st.Store
	fmt.Fprintf(a.stdout, "\nstore %s: %d segments, %d file bytes, %d bytes free\n", s.Path, s.Segments, s.FileBytes, s.FreeBytes)
	if s.OldestPacket != nil && s.NewestPacket != nil {
		fmt.Fprintf(a.stdout, "packets from %s to %s\n", s.OldestPacket.Local().Format("2006-01-02 15:04:05"), s.NewestPacket.Local().Format("2006-01-02 15:04:05"))
	}
	for _, h := range s.Holds {
		fmt.Fprintf(a.stdout, "hold %d: %s to %s: %s\n", h.ID, h.Since.Format(time.RFC3339Nano), h.Until.Format(time.RFC3339Nano), printable(h.Reason))
	}
	if n := st.Index.SegmentsUnsummarized; n > 0 {
		how := "packetrecorder reindex -d STORE builds them"
		if st.Index.Building {
			how = "the daemon is building them"
		}
		fmt.Fprintf(a.stdout, "index: %d closed %s without a summary, opened by every query; %s\n", n, plural(n, "segment"), how)
	}
	printHorizon(a.stdout, st.Horizon, s.OldestPacket)
	printFleet(a.stdout, st.Fleet)
	r := st.Retention
	fmt.Fprintf(a.stdout, "retention: deleted %d segments, %d file bytes, %d packets", r.DeletedSegments, r.DeletedBytes, r.DeletedPackets)
	if r.LastAction != nil {
		fmt.Fprintf(a.stdout, "; last at %s (%s)", r.LastAction.At.Local().Format("2006-01-02 15:04:05"), r.LastAction.Reason)
	}
	fmt.Fprintln(a.stdout)
	if r.Blocked {
		fmt.Fprintf(a.stdout, "RETENTION BLOCKED: holds leave no room (when_held: %s)", r.WhenHeld)
		if r.Paused {
			fmt.Fprint(a.stdout, "; recording is paused")
		}
		fmt.Fprintln(a.stdout)
	}
	return nil
}
