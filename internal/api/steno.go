package api

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/steno"
	"github.com/packetrecorderd/packetrecorderd/internal/store"
)

// Stenographer's request headers that bound an answer.
const (
	HeaderStenoLimitPackets = "Steno-Limit-Packets"
	HeaderStenoLimitBytes   = "Steno-Limit-Bytes"
)

// handleSteno is Stenographer's POST /query: the body is a query in
// Stenographer's language (or tcpdump's, with before/after terms), the
// answer a pcap stream of its packets in time order.
func (s *Server) handleSteno(w http.ResponseWriter, r *http.Request) error {
	// A client that sends its body slowly is cut off.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, steno.MaxQueryLen))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("query longer than %d KiB", steno.MaxQueryLen>>10)}
		}
		return errBadRequest("reading the query: %v", err)
	}
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	text := strings.TrimSpace(string(body))
	auditQuery(r, text, "stenographer", store.Range{})
	q := packetQuery{format: "pcap"}
	for _, h := range []struct {
		name string
		dst  *int64
	}{{HeaderStenoLimitPackets, &q.limit}, {HeaderStenoLimitBytes, &q.limitBytes}} {
		if v := r.Header.Get(h.name); v != "" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || n > MaxLimit {
				return errBadRequest("invalid %s %q: a number of 0 (no limit) to %d", h.name, v, int64(MaxLimit))
			}
			*h.dst = n
		}
	}
	sq, err := steno.Parse(text, s.opts.Now())
	if err != nil {
		return errBadRequest("%v", err)
	}
	hull := sq.Hull()
	q.r = store.Range{Since: hull.Since, Until: hull.Until, HasSince: hull.HasSince, HasUntil: hull.HasUntil}
	for _, win := range sq.Windows {
		q.windows = append(q.windows, selection.Window{Filter: win.Filter,
			Range: store.Range{Since: win.Since, Until: win.Until, HasSince: win.HasSince, HasUntil: win.HasUntil}})
	}
	if len(sq.Windows) == 0 {
		// The query matches nothing ("tcp and udp", a window that ends
		// before it begins): an empty answer, as Stenographer gives, from
		// a window of no time, where no block lies. Without a window the
		// selection would read the whole store.
		none := store.Range{Since: math.MaxInt64, Until: math.MinInt64, HasSince: true, HasUntil: true}
		q.r, q.windows = none, []selection.Window{{Range: none}}
	}
	auditQuery(r, text, "stenographer", q.r)
	// The hull is what is read: the principal's window limit applies to
	// it; it also tells the link type of the answer. Each window's
	// filter is compiled once, the principal's ANDed on.
	sl, err := s.open(r, q)
	if err != nil {
		return err
	}
	defer sl.Close()
	sink, err := s.newStream(w, sl, q)
	if err != nil {
		return err
	}
	err = s.stream(r.Context(), w, r, q, sink, sl)
	auditOf(r).plan = sl.PlanStats()
	return err
}
