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
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// selection is what query, replay and export share: which session and
// which of its packets.
type selection struct {
	db      string
	session string
	filter  string
	since   string
	until   string
}

func (s *selection) addFlags(cmd *cobra.Command) {
	addDatabaseFlag(cmd, &s.db)
	cmd.Flags().StringVarP(&s.session, "session", "s", "", "session id (see 'packetrecorder sessions')")
	cmd.Flags().StringVar(&s.filter, "filter", "", "only packets matching this filter (tcpdump's language)")
	cmd.Flags().StringVar(&s.since, "since", "", "only packets at or after this time (RFC 3339)")
	cmd.Flags().StringVar(&s.until, "until", "", "only packets at or before this time (RFC 3339)")
	cmd.MarkFlagRequired("session")
}

// open opens the database and the session and compiles the filter.
func (s *selection) open() (*store.DB, store.Session, store.Range, *filter.Program, error) {
	var r store.Range
	id, err := parseSessionID(s.session)
	if err != nil {
		return nil, store.Session{}, r, nil, err
	}
	for _, t := range []struct {
		text string
		dst  *int64
		flag string
	}{{s.since, &r.Since, "--since"}, {s.until, &r.Until, "--until"}} {
		if t.text == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, t.text)
		if err != nil {
			return nil, store.Session{}, r, nil, fmt.Errorf("invalid %s %q: use RFC 3339, e.g. 2026-01-02T15:04:05Z", t.flag, t.text)
		}
		*t.dst = ts.UnixNano()
	}
	db, err := store.Open(s.db, store.Options{})
	if err != nil {
		return nil, store.Session{}, r, nil, err
	}
	sess, err := db.Session(id)
	if err != nil {
		db.Close()
		return nil, store.Session{}, r, nil, err
	}
	var prog *filter.Program
	if s.filter != "" {
		prog, err = filter.Compile(s.filter, filter.Options{LinkType: sess.LinkType})
		if err != nil {
			db.Close()
			return nil, store.Session{}, r, nil, err
		}
	}
	return db, sess, r, prog, nil
}

// walk calls fn for the selected packets, at most limit of them (0 = all).
func (s *selection) walk(ctx context.Context, db *store.DB, sess store.Session, r store.Range, prog *filter.Program, limit int64, fn func(store.Record) error) error {
	var n int64
	return db.Packets(sess.ID, r, func(rec store.Record) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if prog != nil && !prog.Match(rec.Data, rec.OrigLen) {
			return nil
		}
		if err := fn(rec); err != nil {
			return err
		}
		n++
		if limit > 0 && n >= limit {
			return store.ErrStop
		}
		return nil
	})
}

type packetJSON struct {
	N       int64  `json:"n"`
	TS      string `json:"ts"`
	CapLen  int    `json:"caplen"`
	Len     int    `json:"len"`
	Summary string `json:"summary"`
	Data    string `json:"data,omitempty"`
}

func (a *app) queryCmd() *cobra.Command {
	var (
		sel      selection
		limit    int64
		showData bool
		asJSON   bool
		count    bool
	)
	cmd := &cobra.Command{
		Use:   "query -s ID [flags]",
		Short: "Show a session's packets",
		Example: `  packetrecorder query -s 1
  packetrecorder query -s 1 -l 0 --filter 'tcp port 443' --show-data
  packetrecorder query -s 1 --filter 'udp port 53' --count`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if limit < 0 {
				return fmt.Errorf("invalid limit %d: must be 0 (all) or more", limit)
			}
			db, sess, r, prog, err := sel.open()
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if count && prog == nil {
				n, err := db.Count(sess.ID, r)
				if err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, n)
				return nil
			}
			if count {
				var n int64
				err := sel.walk(ctx, db, sess, r, prog, 0, func(store.Record) error { n++; return nil })
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
			return sel.walk(ctx, db, sess, r, prog, limit, func(rec store.Record) error {
				summary := sum.Summary(rec.LinkType, rec.Data, rec.OrigLen)
				ts := time.Unix(0, rec.Timestamp)
				if asJSON {
					p := packetJSON{N: rec.Number, TS: ts.UTC().Format(time.RFC3339Nano), CapLen: len(rec.Data), Len: rec.OrigLen, Summary: summary}
					if showData {
						p.Data = hex.EncodeToString(rec.Data)
					}
					return enc.Encode(p)
				}
				fmt.Fprintf(out, "%d %s %s\n", rec.Number, ts.Local().Format("2006-01-02 15:04:05.000000000"), summary)
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
