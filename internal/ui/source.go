package ui

// The UI's one way to select packets: internal/selection, with the
// principal's forced filter ANDed on, exactly as the API's open does.

import (
	"context"
	"errors"
	"fmt"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// errBadFilter marks an error in the user's own expression.
var errBadFilter = errors.New("filter")

// selected is an open selection.
type selected struct{ sl *selection.Selection }

// openSelection selects the packets of q for p.
func openSelection(dir string, p api.Principal, q query) (*selected, error) {
	spec := selection.Spec{Interface: q.iface, Range: q.r, Filter: q.filter, ForcedFilter: p.Filter}
	sl, err := selection.Store{Dir: dir}.Select(context.Background(), spec)
	var fe *selection.FilterError
	switch {
	case err == nil:
		return &selected{sl: sl}, nil
	case errors.As(err, &fe) && fe.Forced:
		return nil, fmt.Errorf("the filter of %s: %w", p.Name, fe.Err)
	case errors.As(err, &fe):
		return nil, fmt.Errorf("%w: %w", errBadFilter, err)
	}
	return nil, err
}

func (s *selected) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	return s.sl.Walk(ctx, limit, fn)
}

func (s *selected) interfaceName(rec store.Record) string { return s.sl.InterfaceName(rec) }

func (s *selected) close() { s.sl.Close() }
