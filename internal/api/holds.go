package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

// HoldJSON is a hold as the API shows it.
type HoldJSON struct {
	ID      int64     `json:"id"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created_at"`
}

// NewHoldJSON is h as the API and the daemon's status show it.
func NewHoldJSON(h archive.Hold) HoldJSON {
	return HoldJSON{ID: h.ID, Since: time.Unix(0, h.Since).UTC(), Until: time.Unix(0, h.Until).UTC(), Reason: h.Reason, Created: h.Created.UTC()}
}

// handleHolds is GET /api/v1/holds.
func (s *Server) handleHolds(w http.ResponseWriter, r *http.Request) error {
	holds, err := s.opts.Holds.Holds()
	if err != nil {
		return err
	}
	out := make([]HoldJSON, 0, len(holds))
	for _, h := range holds {
		out = append(out, NewHoldJSON(h))
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// StoreHolds are the holds of a store directory; each call opens its
// catalog for as long as it takes.
type StoreHolds string

// Holds lists the holds.
func (dir StoreHolds) Holds() ([]archive.Hold, error) {
	ar, err := archive.Open(string(dir), archive.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer ar.Close()
	return ar.Holds()
}

// AddHold adds a hold.
func (dir StoreHolds) AddHold(since, until int64, reason string) (archive.Hold, error) {
	ar, err := archive.Open(string(dir), archive.Options{})
	if err != nil {
		return archive.Hold{}, err
	}
	defer ar.Close()
	return ar.AddHold(since, until, reason)
}

// ReleaseHold releases a hold.
func (dir StoreHolds) ReleaseHold(id int64) error {
	ar, err := archive.Open(string(dir), archive.Options{})
	if err != nil {
		return err
	}
	defer ar.Close()
	return ar.ReleaseHold(id)
}

// HoldRequest is the body of POST /api/v1/holds; times as the CLI takes
// them (RFC 3339, local time, epoch seconds, "5m ago").
type HoldRequest struct {
	Since  string `json:"since"`
	Until  string `json:"until"`
	Reason string `json:"reason"`
}

// maxBody bounds the bodies the API reads.
const maxBody = 64 << 10

// handleHoldAdd is POST /api/v1/holds: keep the segments of a window
// from retention.
func (s *Server) handleHoldAdd(w http.ResponseWriter, r *http.Request) error {
	var req HoldRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, msg: "body larger than 64 KiB"}
		}
		return errBadRequest("invalid hold: %s", oneLine(err.Error()))
	}
	if req.Since == "" || req.Until == "" {
		return errBadRequest("a hold needs since and until")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return errBadRequest("a hold needs a reason (the case or ticket it is kept for)")
	}
	now := s.opts.Now()
	since, err := when.ParseNS(req.Since, now)
	if err != nil {
		return errBadRequest("since: %v", err)
	}
	until, err := when.ParseNS(req.Until, now)
	if err != nil {
		return errBadRequest("until: %v", err)
	}
	if since > until {
		return errBadRequest("since %s is after until %s", req.Since, req.Until)
	}
	h, err := s.opts.Holds.AddHold(since, until, req.Reason+" (by "+who(r).name+")")
	if err != nil {
		return err
	}
	s.opts.Log.Info("hold added", "who", who(r).name, "id", h.ID, "since", fmtNS(since), "until", fmtNS(until), "reason", req.Reason)
	WriteJSON(w, http.StatusCreated, NewHoldJSON(h))
	return nil
}

// handleHoldRelease is DELETE /api/v1/holds/{id}.
func (s *Server) handleHoldRelease(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return errBadRequest("invalid hold id %q", r.PathValue("id"))
	}
	if err := s.opts.Holds.ReleaseHold(id); err != nil {
		if errors.Is(err, archive.ErrNoHold) {
			return errNotFound("%v", err)
		}
		return err
	}
	s.opts.Log.Info("hold released", "who", who(r).name, "id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
