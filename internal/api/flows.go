package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// flowParams are the parameters of GET /api/v1/flows: the packets
// endpoint's selection parameters, sort and limit.
var flowParams = map[string]bool{"filter": true, "since": true, "until": true, "interface": true,
	"community_id": true, "community_id_seed": true, "sort": true, "limit": true}

// handleFlows is GET /api/v1/flows: the selection's flows (a flow is
// listed when any of its packets matches the filter, counted over all its
// packets the token may read in the window), sorted and cut at the limit
// (0, the default: all), as NDJSON, one object per flow as flows --json
// prints it, then {"end": {...}}. The flows are listed whole before the
// first byte goes out: an error is answered with its status.
func (s *Server) handleFlows(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for k := range v {
		if !flowParams[k] {
			return errBadRequest("unknown parameter %q (use filter, since, until, interface, community_id, community_id_seed, sort, limit)", k)
		}
		if len(v[k]) > 1 {
			return errBadRequest("parameter %q given %d times", k, len(v[k]))
		}
	}
	sortBy := v.Get("sort")
	if sortBy == "" {
		sortBy = "start"
	}
	if !slices.Contains(selection.FlowSorts, sortBy) {
		return errBadRequest("invalid sort %q: use start, packets, bytes or duration", sortBy)
	}
	// The selection parameters mean what they mean for packets: read by
	// the same parser.
	v.Del("sort")
	sel := r.Clone(r.Context())
	sel.URL.RawQuery = v.Encode()
	q, err := s.parsePacketQuery(sel)
	if err != nil {
		return err
	}
	auditQuery(r, q.filter, "flows", q.r)
	a := auditOf(r)
	a.iface = q.iface
	// Each pass of the listing opens its selection as a packet query
	// does: the token's forced filter and window apply to both.
	open := func(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
		pq := q
		pq.filter = spec.Filter
		pq.limit = 0
		return s.open(r, pq)
	}
	spec := selection.Spec{Interface: q.iface, Range: q.r, Filter: q.filter, CommunityID: q.communityID, CommunityIDSeed: q.cidSeed}
	var list selection.FlowList
	if s.opts.Flows != nil {
		// A hub's flow records: the same window limit and forced filter.
		if err = who(r).checkWindow(q.r); err != nil {
			return err
		}
		spec.ForcedFilter = who(r).filter
		list, err = s.opts.Flows.ListFlows(r.Context(), spec, selection.FlowOptions{Sort: sortBy, Limit: q.limit})
	} else {
		list, err = selection.ListFlows(r.Context(), spec, selection.FlowOptions{Sort: sortBy, Limit: q.limit}, open)
	}
	if err != nil {
		var fe *selection.FilterError
		if errors.As(err, &fe) && !fe.Forced {
			return errBadRequest("%v", err)
		}
		return err
	}
	a.packets, a.bytes = int64(list.End.Packets), int64(list.End.Bytes)
	a.truncated = list.End.Shown < list.End.Flows

	h := w.Header()
	h.Set("Content-Type", TypeNDJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	if len(list.End.Missing) > 0 {
		// As the packets' answer says it: a trailer, besides the end
		// line (declared, so that even a short answer is chunked and
		// carries it).
		h.Set("Trailer", TrailerPartial)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	for i := range list.Flows {
		if err := enc.Encode(&list.Flows[i]); err != nil {
			return nil // the client went away
		}
	}
	if err := enc.Encode(map[string]selection.FlowsEnd{"end": list.End}); err != nil {
		return nil
	}
	bw.Flush()
	if len(list.End.Missing) > 0 {
		h.Set(TrailerPartial, PartialText(list.End.Missing))
	}
	return nil
}
