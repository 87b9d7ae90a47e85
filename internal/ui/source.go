package ui

// The UI's one way to select packets. It goes through storeview with the
// principal's forced filter ANDed on, exactly as the API's open does;
// when internal/selection lands, this file alone switches to
// selection.Open (Spec{Database: store, Interface, Range, Filter,
// ForcedFilter}).

import (
	"context"
	"errors"
	"fmt"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
	"github.com/packetrecorderd/packetrecorderd/internal/storeview"
)

// errBadFilter marks an error in the user's own expression.
var errBadFilter = errors.New("filter")

// selected is an open selection.
type selected struct{ v *storeview.View }

// openSelection selects the packets of q for p.
func openSelection(dir string, p api.Principal, q query) (*selected, error) {
	v, err := storeview.Open(dir, q.iface, q.r, "")
	if err != nil {
		return nil, err
	}
	if q.filter != "" {
		// The user's expression alone first, so that its mistakes are
		// reported as the CLI reports them.
		if _, err := storeview.CompileFilterMask(q.filter, v.LinkTypes(), 1, v.Netmask()); err != nil {
			v.Close()
			return nil, fmt.Errorf("%w: %w", errBadFilter, err)
		}
	}
	expr := q.filter
	if p.Filter != "" {
		expr = "(" + p.Filter + ")"
		if q.filter != "" {
			expr += " and (" + q.filter + ")"
		}
	}
	if expr != "" {
		v.Filter, err = storeview.CompileFilterMask(expr, v.LinkTypes(), 1, v.Netmask())
		if err != nil && p.Filter != "" && errors.Is(err, filter.ErrRejectsAll) {
			v.Filter, err = storeview.MatchNothing(), nil
		}
		if err != nil {
			v.Close()
			return nil, fmt.Errorf("the filter of %s: %w", p.Name, err)
		}
	}
	return &selected{v: v}, nil
}

func (s *selected) walk(ctx context.Context, limit int64, fn func(store.Record) error) error {
	return s.v.Walk(ctx, limit, fn)
}

func (s *selected) interfaceName(rec store.Record) string { return s.v.InterfaceName(rec) }

func (s *selected) close() { s.v.Close() }
