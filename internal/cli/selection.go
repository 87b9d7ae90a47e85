package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	selpkg "github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

// selection is the flags query, replay, export and flows share: which
// packets, of a session of a database (-d FILE -s ID), of the recordings
// of a store directory (-d STORE, by --interface and time), of a capture
// file (-r) or of a daemon's store (--server). They turn into a
// selection.Spec; the package does the rest.
type selection struct {
	db        string
	session   string
	filter    string
	since     string
	until     string
	iface     string
	storeMode bool // set by open
	remote    remoteFlags
	flags     *pflag.FlagSet
	file      string // -r: a capture file, read directly
	// communityID selects one flow's packets by its Community ID,
	// computed with cidSeed.
	communityID string
	cidSeed     uint16
}

func (s *selection) addFlags(cmd *cobra.Command) {
	addDatabaseFlag(cmd, &s.db)
	s.remote.add(cmd)
	s.flags = cmd.Flags()
	cmd.Flags().StringVarP(&s.file, "read", "r", "", "read packets from a capture file (pcap or pcapng, gzip or zstd compressed; - for standard input), as tcpdump -r")
	cmd.Flags().StringVarP(&s.session, "session", "s", "", "session id or name (see 'packetrecorder sessions'), several as 1,3,7 (merged by time), or all")
	cmd.Flags().StringVar(&s.filter, "filter", "", "only packets matching this filter (tcpdump's language)")
	cmd.Flags().StringVar(&s.since, "since", "", "only packets at or after this time (RFC 3339, local 2006-01-02 15:04:05, epoch seconds, or 5m ago)")
	cmd.Flags().StringVar(&s.until, "until", "", "only packets at or before this time (as --since)")
	cmd.Flags().StringVar(&s.communityID, "community-id", "", "only the packets of the flow with this Community ID (1:... as Zeek, Suricata and tshark print it)")
	cmd.Flags().Uint16Var(&s.cidSeed, "community-id-seed", 0, "the Community ID seed your sensors use")
	// replay's --interface (-i) is where packets go; there the recorded
	// interface is --source-interface.
	name := "interface"
	if cmd.Flags().Lookup("interface") != nil || cmd.Name() == "replay" {
		name = "source-interface"
	}
	cmd.Flags().StringVar(&s.iface, name, "", "with a store directory: only the packets recorded on this interface")
}

// parseTime reads a --since/--until value: RFC 3339, local time as
// sessions and query print it, epoch seconds, or relative ("5m ago").
func parseTime(flag, text string) (int64, error) {
	ns, err := when.ParseNS(text, time.Now())
	if err != nil {
		return 0, fmt.Errorf("invalid %s: %w", flag, err)
	}
	return ns, nil
}

// timeRange turns --since and --until into a store.Range. An inverted
// window is an error: it can only be a mistake.
func (s *selection) timeRange() (store.Range, error) {
	var r store.Range
	var err error
	if s.since != "" {
		if r.Since, err = parseTime("--since", s.since); err != nil {
			return r, err
		}
		r.HasSince = true
	}
	if s.until != "" {
		if r.Until, err = parseTime("--until", s.until); err != nil {
			return r, err
		}
		r.HasUntil = true
	}
	if r.HasSince && r.HasUntil && r.Since > r.Until {
		return r, fmt.Errorf("--since %s is after --until %s", s.since, s.until)
	}
	return r, nil
}

// spec is the selection the flags ask for.
func (s *selection) spec() (selpkg.Spec, error) {
	r, err := s.timeRange()
	if err != nil {
		return selpkg.Spec{}, err
	}
	return selpkg.Spec{
		Database:    s.db,
		DatabaseSet: s.flags != nil && s.flags.Changed("database"),
		Sessions:    s.session,
		File:        s.file,
		Server:      s.remote.Remote,
		Interface:   s.iface,
		Range:       r,
		Filter:      s.filter,

		CommunityID:     s.communityID,
		CommunityIDSeed: s.cidSeed,
	}, nil
}

// selected is an open selection, with its summary as one session.
type selected struct {
	*selpkg.Selection
	sess store.Session
}

// open opens the selection the flags ask for.
func (s *selection) open() (*selected, error) {
	spec, err := s.spec()
	if err != nil {
		return nil, err
	}
	sl, err := selpkg.Open(context.Background(), spec)
	if err != nil {
		return nil, err
	}
	s.storeMode = sl.IsStore() || spec.File != ""
	return &selected{Selection: sl, sess: sl.Summary()}, nil
}

// uncompressed reads a capture file as -r does (import reads with it).
var uncompressed = selpkg.Uncompressed

// filterArgs takes the filter from positional arguments, as tcpdump does;
// --filter and arguments together are a mistake.
func (s *selection) filterArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s.filter != "" {
		return fmt.Errorf("the filter is given twice: --filter %q and %q", s.filter, strings.Join(args, " "))
	}
	s.filter = strings.Join(args, " ")
	return nil
}
