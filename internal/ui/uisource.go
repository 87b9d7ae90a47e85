package ui

// Where the UI reads from: a Source. A store directory or a database
// (the daemon's and `packetrecorder ui`'s, StoreSource) or a hub's fleet
// (internal/hub: flows from PostgreSQL, packets from the sensors, each
// labelled SENSOR/IFACE). The pages ask only this interface; what a
// fleet could not answer (its missing sensors) comes back with the
// selection (Selection.Missing) or the flow list (FlowsEnd.Missing) and
// is shown in a banner.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Source is what the UI's pages read.
type Source interface {
	// Select opens spec's selection (the principal's forced filter is in
	// spec.ForcedFilter).
	Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error)
	// ListFlows lists spec's flows; open opens a selection as Select
	// does, with the principal's rules (a store walks its packets with
	// it; a hub lists its flow records).
	ListFlows(ctx context.Context, spec selection.Spec, opts selection.FlowOptions, open selection.Opener) (selection.FlowList, error)
	// Segments are what the timeline and the form's interfaces are drawn
	// from, without reading packets.
	Segments(ctx context.Context) ([]archive.Segment, error)
}

// StoreSource is a store directory's Source, or a database file's (all
// its sessions merged by time).
type StoreSource struct{ Path string }

var _ Source = StoreSource{}

func (s StoreSource) isDatabase() bool { return !archive.IsStore(s.Path) }

// Select opens spec's selection of the store or the database.
func (s StoreSource) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	if s.isDatabase() {
		return Database(s.Path).Select(ctx, spec)
	}
	return selection.Store{Dir: s.Path}.Select(ctx, spec)
}

// ListFlows walks the selection's packets (selection.ListFlows).
func (s StoreSource) ListFlows(ctx context.Context, spec selection.Spec, opts selection.FlowOptions, open selection.Opener) (selection.FlowList, error) {
	return selection.ListFlows(ctx, spec, opts, open)
}

// Segments are the store's segments, or for a database one per session
// (its packets' time span, packets and bytes).
func (s StoreSource) Segments(ctx context.Context) ([]archive.Segment, error) {
	if !s.isDatabase() {
		ar, err := archive.Open(s.Path, archive.Options{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		defer ar.Close()
		return ar.Segments()
	}
	db, err := store.Open(s.Path, store.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sessions, err := db.Sessions()
	db.Close()
	if err != nil {
		return nil, err
	}
	var out []archive.Segment
	for _, ss := range sessions {
		sl, err := selection.Open(ctx, selection.Spec{Database: s.Path, DatabaseSet: true, Sessions: strconv.FormatInt(ss.ID, 10)})
		if err != nil {
			return nil, err
		}
		_, _, first, last, err := sl.Shape()
		sl.Close()
		if err != nil {
			return nil, err
		}
		name := ss.Name
		if name == "" {
			name = "session " + strconv.FormatInt(ss.ID, 10)
		}
		out = append(out, archive.Segment{ID: ss.ID, Interface: ss.Interface, Recording: name, Packets: ss.Packets,
			Bytes: ss.Bytes, MinNS: first, MaxNS: last})
	}
	return out, nil
}
