package selection

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/packetrecorderd/packetrecorderd/internal/filter"
	"github.com/packetrecorderd/packetrecorderd/internal/flow"
	"github.com/packetrecorderd/packetrecorderd/internal/index"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Filter is a filter compiled for each link type a selection holds, so
// that every packet is matched by a program for its own link type, as
// tcpdump matches the packets of each file it reads. A nil Filter matches
// everything.
type Filter struct {
	progs map[uint32]*filter.Program
	// lazy: expr is compiled for a link type first met in a packet (a
	// capture file's pcapng may describe interfaces late). Otherwise the
	// link types are all known at once, and a packet of another matches
	// nothing.
	lazy bool
	expr string
	mask net.IPMask
	// plan is the blocks that can hold a packet the filter accepts
	// (filter.Plan of the expression; index.All where it cannot narrow),
	// applied by readSession; stats, when set, is told what the planned
	// reads read.
	plan  index.Expr
	stats *store.PlanStats
	// noProgram: no expression, every packet passes the BPF part.
	noProgram bool
	// hasCID: only packets whose flow has Community ID cid (seed
	// cidSeed) pass.
	hasCID  bool
	cid     flow.CommunityID
	cidSeed uint16
}

// compileBPF compiles one program (a test counts its calls).
var compileBPF = filter.Compile

// CompileFilter compiles expr for every link type (fallback when none is
// known). An expression that does not compile for one of them is an
// error naming it: it never silently selects nothing there.
func CompileFilter(expr string, linkTypes []uint32, fallback uint32) (*Filter, error) {
	return compileFilter(expr, linkTypes, fallback, filter.ZeroNetmask)
}

// compileFilter is CompileFilter with the netmask "ip broadcast" uses
// (the live capture's interface's, as its session recorded it).
func compileFilter(expr string, linkTypes []uint32, fallback uint32, mask net.IPMask) (*Filter, error) {
	if len(linkTypes) == 0 {
		linkTypes = []uint32{fallback}
	}
	pf := &Filter{progs: make(map[uint32]*filter.Program, len(linkTypes))}
	for _, lt := range linkTypes {
		prog, err := compileBPF(expr, filter.Options{LinkType: lt, Netmask: mask})
		if err != nil {
			if len(linkTypes) > 1 {
				return nil, fmt.Errorf("filter for the %s packets: %w", filter.LinkTypeName(lt), err)
			}
			return nil, err
		}
		pf.progs[lt] = prog
	}
	return pf, nil
}

// matchNothing is a Filter that no packet passes: a restriction and a
// request that contradict each other select nothing, which is no error.
func matchNothing() *Filter {
	return &Filter{progs: map[uint32]*filter.Program{}, plan: index.None}
}

// planOf is expr's plan; one the planner cannot make narrows nothing.
func planOf(expr string) index.Expr {
	e, err := filter.Plan(expr, filter.Options{})
	if err != nil {
		return index.All
	}
	return e
}

// selectFlow has f pass only the packets of the flow whose Community ID
// is cid (computed with seed). With seed 0, the one block sketches and
// segment summaries hold, the ID is also a term of f's plan, ANDed: only
// the blocks and segments that may hold the flow are read. The
// per-packet match (match) still decides; another seed narrows nothing.
func (f *Filter) selectFlow(cid flow.CommunityID, seed uint16) {
	f.cid, f.cidSeed, f.hasCID = cid, seed, true
	if seed != 0 {
		return
	}
	if t, ok := index.CommunityIDTerm(cid); ok {
		f.plan = index.And(f.plan, index.TermExpr(t))
	}
}

// match reports whether the filter accepts the record.
func (f *Filter) match(rec store.Record) (bool, error) {
	if f == nil {
		return true, nil
	}
	if !f.noProgram {
		prog, ok := f.progs[rec.LinkType]
		if !ok && f.lazy {
			var err error
			if prog, err = compileBPF(f.expr, filter.Options{LinkType: rec.LinkType, Netmask: f.mask}); err != nil {
				return false, fmt.Errorf("filter for the %s packets: %w", filter.LinkTypeName(rec.LinkType), err)
			}
			f.progs[rec.LinkType] = prog
		}
		if prog == nil || !prog.Match(rec.Data, rec.OrigLen) {
			return false, nil
		}
	}
	if f.hasCID {
		var p flow.Packet
		if !flow.Extract(rec.LinkType, rec.Data, &p) {
			return false, nil
		}
		return p.Key.ID(f.cidSeed) == f.cid, nil
	}
	return true, nil
}

// keep is the one place a packet is checked and matched: it reports
// whether rec goes on to the walk (the context still alive, the filter
// accepting it).
func keep(ctx context.Context, f *Filter, rec store.Record) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return f.match(rec)
}

// FilterError is Open's error for a filter that does not compile. Forced
// says it is the forced filter (a token's) that fails, not the one the
// request gave; a request's mistake is its own (the API answers 400).
type FilterError struct {
	Forced bool
	Err    error
}

func (e *FilterError) Error() string { return e.Err.Error() }
func (e *FilterError) Unwrap() error { return e.Err }

// compileSpec compiles the spec's filter for the link types: the forced
// filter ANDed with the request's (filter.And: the request's must parse on
// its own, so that it cannot reach out of its parentheses). The expression is
// compiled once; only when that fails is the request's own compiled again,
// to tell whose mistake it is. A forced filter and a request that
// contradict each other (filter.ErrRejectsAll) select nothing.
func compileSpec(expr, forced string, linkTypes []uint32, fallback uint32, mask net.IPMask) (*Filter, error) {
	if expr == "" && forced == "" {
		return nil, nil
	}
	full, err := filter.And(forced, expr)
	if err != nil {
		return nil, &FilterError{Err: err}
	}
	f, err := compileFilter(full, linkTypes, fallback, mask)
	if err == nil {
		f.plan = planOf(full)
		return f, nil
	}
	if forced == "" {
		return nil, &FilterError{Err: err}
	}
	if expr != "" {
		if _, own := compileFilter(expr, linkTypes, fallback, mask); own != nil {
			return nil, &FilterError{Err: own}
		}
	}
	if errors.Is(err, filter.ErrRejectsAll) {
		return matchNothing(), nil
	}
	return nil, &FilterError{Forced: true, Err: err}
}
