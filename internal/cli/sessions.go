package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// sessionJSON is the --json shape of a session; its keys are a stable
// interface for scripts.
type sessionJSON struct {
	ID             int64   `json:"id"`
	UUID           string  `json:"uuid"`
	Name           string  `json:"name"`
	Source         string  `json:"source"`
	Interface      string  `json:"interface"`
	Filter         string  `json:"filter"`
	LinkType       uint32  `json:"link_type"`
	LinkTypeName   string  `json:"link_type_name"`
	Snaplen        uint32  `json:"snaplen"`
	StartedAt      string  `json:"started_at"`
	EndedAt        *string `json:"ended_at"`
	Packets        int64   `json:"packets"`
	Bytes          int64   `json:"bytes"`
	WireBytes      int64   `json:"wire_bytes"`
	KernelReceived int64   `json:"kernel_received"`
	KernelDropped  int64   `json:"kernel_dropped"`
	AppDropped     int64   `json:"app_dropped"`
	Dropped        int64   `json:"dropped"`
	Hostname       string  `json:"hostname"`
	Status         string  `json:"status"`
	Notes          string  `json:"notes"`
	// Interfaces are every interface the session's packets are of (a
	// pcapng import or a capture with several -i has several).
	Interfaces []interfaceJSON `json:"interfaces"`
}

type interfaceJSON struct {
	ID           int    `json:"id"`
	Name         string `json:"name"`
	LinkType     uint32 `json:"link_type"`
	LinkTypeName string `json:"link_type_name"`
	Snaplen      uint32 `json:"snaplen"`
}

// interfaceList is the INTERFACE column: every interface's name ("#ID"
// for an unnamed one among several).
func interfaceList(ifs []store.Interface) string {
	names := make([]string, len(ifs))
	for i, it := range ifs {
		names[i] = it.Name
		if it.Name == "" && len(ifs) > 1 {
			names[i] = "#" + strconv.Itoa(it.ID)
		}
	}
	return strings.Join(names, ",")
}

func toJSON(s store.Session) sessionJSON {
	j := sessionJSON{
		ID: s.ID, UUID: s.UUID, Name: s.Name, Source: s.Source, Interface: s.Interface, Filter: s.Filter,
		LinkType: s.LinkType, LinkTypeName: filter.LinkTypeName(s.LinkType), Snaplen: s.Snaplen,
		StartedAt: s.Started.UTC().Format(time.RFC3339Nano),
		Packets:   s.Packets, Bytes: s.Bytes, WireBytes: s.WireBytes,
		KernelReceived: s.KernelReceived, KernelDropped: s.KernelDropped, AppDropped: s.AppDropped, Dropped: s.Dropped(),
		Hostname: s.Hostname, Status: s.Status, Notes: s.Notes,
	}
	if !s.Ended.IsZero() {
		e := s.Ended.UTC().Format(time.RFC3339Nano)
		j.EndedAt = &e
	}
	return j
}

func parseSessionID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("invalid session id %q: use the number shown by 'packetrecorder sessions'", s)
	}
	return id, nil
}

func (a *app) sessionsCmd() *cobra.Command {
	var dbPath string
	var asJSON bool
	var remote remoteFlags
	var vacuumAfter bool
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List capture sessions; rename, annotate or delete them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if remote.Server != "" {
				if cmd.Flags().Changed("database") {
					return errors.New("-d reads a local database or store, --server a daemon's: give one of them")
				}
				c, err := selpkg.Dial(remote.Remote)
				if err != nil {
					return err
				}
				recs, missing, err := hubRecordings(cmd.Context(), c)
				if err != nil {
					return err
				}
				if err := a.printRecordings(recs, asJSON); err != nil {
					return err
				}
				return a.partialAnswer(missing, remote.PartialOK)
			}
			if archive.IsStore(dbPath) {
				return a.storeSessions(dbPath, asJSON)
			}
			db, err := store.Open(dbPath, store.Options{ReadOnly: true})
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := db.Sessions()
			if err != nil {
				return err
			}
			ifaces := make([][]store.Interface, len(list))
			for i, s := range list {
				if ifaces[i], err = db.Interfaces(s); err != nil {
					return err
				}
			}
			if asJSON {
				out := make([]sessionJSON, 0, len(list))
				for i, s := range list {
					j := toJSON(s)
					j.Interfaces = []interfaceJSON{}
					for _, it := range ifaces[i] {
						j.Interfaces = append(j.Interfaces, interfaceJSON{ID: it.ID, Name: it.Name, LinkType: it.LinkType,
							LinkTypeName: filter.LinkTypeName(it.LinkType), Snaplen: it.Snaplen})
					}
					out = append(out, j)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tINTERFACE\tFILTER\tSTART\tDURATION\tPACKETS\tBYTES\tDROPPED\tSTATUS")
			for i, s := range list {
				dur := "-"
				if !s.Ended.IsZero() {
					dur = s.Ended.Sub(s.Started).Round(time.Millisecond).String()
				} else if s.Status == store.StatusRecording {
					dur = time.Since(s.Started).Round(time.Second).String() + "+"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.ID, dash(printable(s.Name)), dash(printable(interfaceList(ifaces[i]))), dash(printable(s.Filter)),
					s.Started.Local().Format("2006-01-02 15:04:05"), dur, s.Packets, s.Bytes, s.Dropped(), s.Status)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	remote.add(cmd)
	cmd.PersistentFlags().StringVarP(&dbPath, "database", "d", DefaultDatabase, "SQLite database file")

	withDB := func(use, short string, nargs cobra.PositionalArgs, fn func(db *store.DB, args []string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: nargs,
			RunE: func(cmd *cobra.Command, args []string) error {
				if archive.IsStore(dbPath) {
					return fmt.Errorf("%s is a store: its segments are deleted by the daemon's retention (keep a window with 'packetrecorder hold')", dbPath)
				}
				if err := notInAStore("-d", dbPath); err != nil {
					return err // a segment: changed only by the daemon
				}
				db, err := store.Open(dbPath, store.Options{})
				if err != nil {
					return err
				}
				defer db.Close()
				return fn(db, args)
			},
		}
	}
	cmd.AddCommand(
		withDB("rename ID NAME", "Rename a session", cobra.MinimumNArgs(2), func(db *store.DB, args []string) error {
			id, err := parseSessionID(args[0])
			if err != nil {
				return err
			}
			name := strings.Join(args[1:], " ")
			if strings.IndexFunc(name, func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) }) < 0 {
				// -s selects by name: an empty one could never be typed back.
				return fmt.Errorf("invalid name %q: a session's name needs a visible character", name)
			}
			return db.Rename(id, name)
		}),
		withDB("note ID TEXT", "Set a session's notes", cobra.MinimumNArgs(2), func(db *store.DB, args []string) error {
			id, err := parseSessionID(args[0])
			if err != nil {
				return err
			}
			return db.SetNotes(id, strings.Join(args[1:], " "))
		}),
		withDB("delete ID...", "Delete sessions and their packets", cobra.MinimumNArgs(1), func(db *store.DB, args []string) error {
			ids := make([]int64, len(args))
			for i, s := range args {
				id, err := parseSessionID(s)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			if err := db.Delete(ids...); err != nil {
				return err
			}
			for _, id := range ids {
				fmt.Fprintf(a.stdout, "deleted session %d\n", id)
			}
			if vacuumAfter {
				return a.vacuum(db)
			}
			return nil
		}),
	)
	for _, c := range cmd.Commands() {
		if strings.HasPrefix(c.Use, "delete") {
			c.Flags().BoolVar(&vacuumAfter, "vacuum", false, "then give the freed space back to the filesystem (see 'packetrecorder vacuum')")
		}
	}
	return cmd
}

// vacuum rewrites the database to give freed space back, and says how much.
func (a *app) vacuum(db *store.DB) error {
	before, after, err := db.Vacuum()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "vacuumed %s: %s, was %s\n", db.Path(), humanBytes(after), humanBytes(before))
	return nil
}

func (a *app) vacuumCmd() *cobra.Command {
	var dbPath string
	cmd := &cobra.Command{
		Use:   "vacuum",
		Short: "Give the space of deleted sessions back to the filesystem (rewrites the database)",
		Long: `Deleting sessions frees pages inside the database file for later captures;
vacuum rewrites the file without them, so that it shrinks. It needs free
space about the size of the database while it runs, and refuses while a
capture or import is recording into the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if archive.IsStore(dbPath) {
				return fmt.Errorf("%s is a store: retention deletes its segments whole, there is nothing to vacuum", dbPath)
			}
			if err := notInAStore("vacuum: -d", dbPath); err != nil {
				return err
			}
			db, err := store.Open(dbPath, store.Options{})
			if err != nil {
				return err
			}
			defer db.Close()
			return a.vacuum(db)
		},
	}
	cmd.Flags().StringVarP(&dbPath, "database", "d", DefaultDatabase, "SQLite database file")
	return cmd
}

// printable escapes what a terminal would act on (newlines, escape
// sequences, other control characters) in text from the database, as Go
// quotes it; text without such characters is unchanged.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) && r != ' ' }) < 0 && utf8.ValidString(s) {
		return s
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// storeSessions lists a store's recordings, one row per ring of an
// interface recorded continuously (across segments, while retention has
// kept them), in the order they began.
func (a *app) storeSessions(dir string, asJSON bool) error {
	out, err := selpkg.Recordings(dir)
	if err != nil {
		return err
	}
	return a.printRecordings(out, asJSON)
}

// printRecordings prints a store's recordings, as a table or JSON.
func (a *app) printRecordings(out []selpkg.Recording, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tINTERFACE\tRING\tOLDEST\tNEWEST\tFIRST\tPACKETS\tFILE BYTES\tSEGMENTS\tSTATUS")
	for _, r := range out {
		oldest, newest := "-", "-"
		if r.OldestAt != nil {
			t, _ := time.Parse(time.RFC3339Nano, *r.OldestAt)
			oldest = t.Local().Format("2006-01-02 15:04:05")
			t, _ = time.Parse(time.RFC3339Nano, *r.NewestAt)
			newest = t.Local().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, printable(r.Interface), r.Ring, oldest, newest, r.FirstPacket, r.Packets, r.FileBytes, r.Segments, r.Status)
	}
	return tw.Flush()
}
