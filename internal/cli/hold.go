package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

func (a *app) holdCmd() *cobra.Command {
	var (
		dir    string
		sel    selection
		reason string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "hold -d STORE --since T --until T --reason TEXT",
		Short: "Exempt the segments holding a time window from retention (evidence)",
		Example: `  packetrecorder hold -d /var/lib/packetrecorder --since 2026-12-04T10:00:00Z --until 2026-12-04T11:00:00Z --reason "case 4711"
  packetrecorder hold list -d /var/lib/packetrecorder
  packetrecorder hold release 3 -d /var/lib/packetrecorder`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if sel.since == "" || sel.until == "" {
				return fmt.Errorf("a hold needs --since and --until")
			}
			if reason == "" {
				return fmt.Errorf("a hold needs a --reason: it is what tells the next person why the data must stay")
			}
			r, err := sel.timeRange()
			if err != nil {
				return err
			}
			var h archive.Hold
			err = a.changeHolds(dir, func(ar *archive.Archive) (err error) {
				h, err = ar.AddHold(r.Since, r.Until, reason)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "hold %d: %s to %s: %s\n", h.ID, fmtTime(h.Since), fmtTime(h.Until), h.Reason)
			return nil
		},
	}
	cmd.PersistentFlags().StringVarP(&dir, "database", "d", "", "store directory (the daemon's store:)")
	cmd.MarkPersistentFlagRequired("database")
	cmd.Flags().StringVar(&sel.since, "since", "", "start of the window (RFC 3339)")
	cmd.Flags().StringVar(&sel.until, "until", "", "end of the window (RFC 3339)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the window must be kept")

	list := &cobra.Command{
		Use:   "list",
		Short: "List the holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ar, err := archive.Open(dir, archive.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer ar.Close()
			holds, err := ar.Holds()
			if err != nil {
				return err
			}
			if asJSON {
				type holdJSON struct {
					ID      int64  `json:"id"`
					Since   string `json:"since"`
					Until   string `json:"until"`
					Reason  string `json:"reason"`
					Created string `json:"created_at"`
				}
				out := []holdJSON{}
				for _, h := range holds {
					out = append(out, holdJSON{h.ID, fmtTime(h.Since), fmtTime(h.Until), h.Reason, h.Created.UTC().Format(time.RFC3339Nano)})
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSINCE\tUNTIL\tREASON\tCREATED")
			for _, h := range holds {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", h.ID, fmtTime(h.Since), fmtTime(h.Until), printable(h.Reason), h.Created.Local().Format("2006-01-02 15:04:05"))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	release := &cobra.Command{
		Use:   "release ID",
		Short: "Release a hold: its segments are subject to retention again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return fmt.Errorf("invalid hold id %q: use the number shown by 'packetrecorder hold list'", args[0])
			}
			if err := a.changeHolds(dir, func(ar *archive.Archive) error { return ar.ReleaseHold(id) }); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "released hold %d\n", id)
			return nil
		},
	}
	cmd.AddCommand(list, release)
	return cmd
}

// changeHolds opens the store dir and runs change on it. Holds must be
// written even on a full filesystem (evidence is held when disks fill):
// the store's reserve gives the room (archive.OpenRoomy), and the
// daemon's retention makes it again once there is room.
func (a *app) changeHolds(dir string, change func(*archive.Archive) error) error {
	ar, released, err := archive.OpenRoomy(dir, archive.Options{})
	if err != nil {
		return err
	}
	err = change(ar)
	if free, _ := archive.DiskSpace(dir); err != nil && free >= 0 && free < archive.ReserveSize && archive.ReleaseReserve(dir) {
		released = true
		err = change(ar)
	}
	if cerr := ar.Close(); err == nil {
		err = cerr
	}
	if released {
		fmt.Fprintln(a.stderr, "packetrecorder: the disk is full: the store's reserve gave the room (the daemon makes it again once retention frees space)")
	}
	return err
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
