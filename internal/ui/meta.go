package ui

// What the overview and the forms know without reading packets: a store's
// catalog (its segments and holds), or a database's sessions.

import (
	"context"
	"errors"
	"fmt"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
)

// errNoHolds is the answer to holds on a database: holds keep a store's
// segments from retention, and a database has neither.
var errNoHolds = errors.New("holds keep a store's segments from retention: a single database has none")

// errFleetHolds is the answer to holds at a hub: each sensor keeps its
// own.
var errFleetHolds = errors.New("a hub keeps no holds: each sensor holds its own store's windows (hold it on the sensor)")

// noHolds is why the UI serves no holds (a database, a fleet), or nil.
func (s *Server) noHolds() error {
	switch {
	case s.isFleet():
		return errFleetHolds
	case s.isDatabase():
		return errNoHolds
	}
	return nil
}

// isDatabase reports whether the UI serves a database file, not a store
// (nor a fleet).
func (s *Server) isDatabase() bool { return !s.isFleet() && !archive.IsStore(s.opts.Store) }

// isFleet reports whether the UI serves a hub's fleet: no store of its
// own, no holds.
func (s *Server) isFleet() bool {
	_, ok := s.src.(StoreSource)
	return !ok
}

// segments are the source's segments (a database's: one per session).
func (s *Server) segments(ctx context.Context) ([]archive.Segment, error) {
	return s.src.Segments(ctx)
}

// holdList are the store's holds (none for a database or a fleet).
func (s *Server) holdList() ([]archive.Hold, error) {
	if s.isDatabase() || s.isFleet() {
		return nil, nil
	}
	ar, err := archive.Open(s.opts.Store, archive.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	defer ar.Close()
	return ar.Holds()
}
