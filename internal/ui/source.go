package ui

// The UI's one way to select packets: internal/selection over the store,
// with the principal's forced filter in the spec, as the API selects.

import (
	"context"
	"errors"
	"fmt"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// formError is a mistake of the user's own (their filter, their choice
// of interface): shown on the form as it is, not as a failed page.
type formError struct{ err error }

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// selected is an open selection.
type selected struct{ sl *selection.Selection }

// openSelection selects the packets of q for p in the store directory, or
// in all the sessions of the database, path.
func openSelection(ctx context.Context, src Source, p api.Principal, q query) (*selected, error) {
	// The Community ID goes into the spec for the planner (which will read
	// only the blocks that carry it); the pages match it themselves.
	sl, err := openSpec(ctx, src, p, q.spec())
	if err != nil {
		return nil, err
	}
	return &selected{sl: sl}, nil
}

// spec is q's selection.
func (q query) spec() selection.Spec {
	return selection.Spec{Interface: q.iface, Range: q.r, Filter: q.filter, CommunityID: q.communityID}
}

// opener opens specs for p as openSelection does (the forced filter
// applied, the user's mistakes as form errors): selection.ListFlows opens
// both its passes with it.
func opener(src Source, p api.Principal) selection.Opener {
	return func(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
		return openSpec(ctx, src, p, spec)
	}
}

// openSpec opens spec's selection for p, with p's forced filter.
func openSpec(ctx context.Context, src Source, p api.Principal, spec selection.Spec) (*selection.Selection, error) {
	spec.ForcedFilter = p.Filter
	sl, err := src.Select(ctx, spec)
	ss, isStore := src.(StoreSource)
	var fe *selection.FilterError
	switch {
	case errors.As(err, &fe) && !fe.Forced:
		return nil, &formError{err}
	case errors.As(err, &fe):
		return nil, fmt.Errorf("the filter of %s: %w", p.Name, err)
	case errors.Is(err, selection.ErrNoSuchInterface) || spec.Interface != "" && isStore && ss.isDatabase():
		if sl != nil {
			sl.Close()
		}
		return nil, &formError{err}
	case err != nil:
		return nil, err
	}
	return sl, nil
}

// Database selects in all the sessions of a database file, merged by
// time (what `packetrecorder ui -d packets.db` serves, the API's
// packets included).
type Database string

// Select opens spec's selection of the database's sessions.
func (d Database) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	spec.Database, spec.DatabaseSet, spec.Sessions = string(d), true, "all"
	return selection.Open(ctx, spec)
}

// Recordings are none: a database has sessions (see its overview).
func (d Database) Recordings() ([]selection.Recording, error) { return []selection.Recording{}, nil }

func (s *selected) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	return s.sl.Walk(ctx, limit, fn)
}

func (s *selected) interfaceName(rec store.Record) string { return s.sl.InterfaceName(rec) }

func (s *selected) close() { s.sl.Close() }

// missing are the sensors a hub's selection lacks so far.
func (s *selected) missing() []selection.Missing { return s.sl.Missing() }
