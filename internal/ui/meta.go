package ui

// What the overview and the forms know without reading packets: a store's
// catalog (its segments and holds), or a database's sessions.

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// errNoHolds is the answer to holds on a database: holds keep a store's
// segments from retention, and a database has neither.
var errNoHolds = errors.New("holds keep a store's segments from retention: a single database has none")

// isDatabase reports whether the UI serves a database file, not a store.
func (s *Server) isDatabase() bool { return !archive.IsStore(s.opts.Store) }

// segments are the store's segments, or for a database one per session
// (its packets' time span, packets and bytes).
func (s *Server) segments(ctx context.Context) ([]archive.Segment, error) {
	if !s.isDatabase() {
		ar, err := archive.Open(s.opts.Store, archive.Options{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		defer ar.Close()
		return ar.Segments()
	}
	db, err := store.Open(s.opts.Store, store.Options{ReadOnly: true})
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
		sl, err := selection.Open(ctx, selection.Spec{Database: s.opts.Store, DatabaseSet: true, Sessions: strconv.FormatInt(ss.ID, 10)})
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

// holdList are the store's holds (none for a database).
func (s *Server) holdList() ([]archive.Hold, error) {
	if s.isDatabase() {
		return nil, nil
	}
	ar, err := archive.Open(s.opts.Store, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer ar.Close()
	return ar.Holds()
}
