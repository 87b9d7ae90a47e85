package ui

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/when"
)

type holdRow struct {
	ID                    int64
	Since, Until, Created string
	Reason                string
	SinceNS, UntilNS      string
}

func newHoldRow(h archive.Hold) holdRow {
	return holdRow{ID: h.ID, Since: fmtTime(h.Since), Until: fmtTime(h.Until), Created: h.Created.UTC().Format("2006-01-02 15:04:05"),
		Reason: h.Reason, SinceNS: fmtNS(h.Since), UntilNS: fmtNS(h.Until)}
}

func (s *Server) handleHolds(w http.ResponseWriter, r *http.Request, c *call) error {
	return s.holdsPage(w, r, c, http.StatusOK, "", "")
}

func (s *Server) holdsPage(w http.ResponseWriter, r *http.Request, c *call, status int, msg, done string) error {
	holds, err := s.holdList()
	if err != nil {
		return err
	}
	if err := s.noHolds(); err != nil && msg == "" {
		msg = err.Error()
	}
	var rows []holdRow
	for _, h := range holds {
		rows = append(rows, newHoldRow(h))
	}
	q := s.parseQuery(r)
	d := map[string]any{"Title": "Holds", "Holds": rows, "Database": s.noHolds() != nil, "Error": msg, "Done": done,
		"Since": q.since, "Until": q.until, "Reason": r.FormValue("reason")}
	s.render(w, status, "holds", c, d)
	return nil
}

// handleHoldAdd keeps a window from retention, as POST /api/v1/holds.
func (s *Server) handleHoldAdd(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.noHolds(); err != nil {
		return s.holdsPage(w, r, c, http.StatusBadRequest, err.Error(), "")
	}
	if !c.p.May(api.ScopeAdmin) {
		return s.holdsPage(w, r, c, http.StatusForbidden, c.p.Name+" may not add holds: it needs the admin scope", "")
	}
	since, until, reason := r.PostFormValue("since"), r.PostFormValue("until"), strings.TrimSpace(r.PostFormValue("reason"))
	now := s.opts.Now()
	var msg string
	sns, err := when.ParseNS(since, now)
	if err != nil {
		msg = "since: " + err.Error()
	}
	uns, err := when.ParseNS(until, now)
	if err != nil && msg == "" {
		msg = "until: " + err.Error()
	}
	switch {
	case msg != "":
	case since == "" || until == "":
		msg = "a hold needs since and until"
	case reason == "":
		msg = "a hold needs a reason (the case or ticket it is kept for)"
	case len(reason) > 1000:
		msg = "the reason is longer than 1000 characters"
	case sns > uns:
		msg = fmt.Sprintf("since %s is after until %s", since, until)
	}
	if msg != "" {
		return s.holdsPage(w, r, c, http.StatusBadRequest, msg, "")
	}
	ar, err := archive.Open(s.opts.Store, archive.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer ar.Close()
	h, err := ar.AddHold(sns, uns, reason+" (by "+c.p.Name+")")
	if err != nil {
		return err
	}
	s.opts.Log.Info("hold added", "who", c.p.Name, "id", h.ID, "since", fmtNS(sns), "until", fmtNS(uns), "reason", reason, "via", "ui")
	http.Redirect(w, r, "/ui/holds?added="+strconv.FormatInt(h.ID, 10), http.StatusSeeOther)
	return nil
}

func (s *Server) handleHoldRelease(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.noHolds(); err != nil {
		return s.holdsPage(w, r, c, http.StatusBadRequest, err.Error(), "")
	}
	if !c.p.May(api.ScopeAdmin) {
		return s.holdsPage(w, r, c, http.StatusForbidden, c.p.Name+" may not release holds: it needs the admin scope", "")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return s.holdsPage(w, r, c, http.StatusBadRequest, fmt.Sprintf("invalid hold id %q", r.PathValue("id")), "")
	}
	ar, err := archive.Open(s.opts.Store, archive.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer ar.Close()
	if err := ar.ReleaseHold(id); err != nil {
		if errors.Is(err, archive.ErrNoHold) {
			return s.holdsPage(w, r, c, http.StatusNotFound, err.Error(), "")
		}
		return err
	}
	s.opts.Log.Info("hold released", "who", c.p.Name, "id", id, "via", "ui")
	http.Redirect(w, r, "/ui/holds", http.StatusSeeOther)
	return nil
}
