package hub

import (
	"context"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/packetrecorderd/packetrecorderd/internal/archive"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
	"github.com/packetrecorderd/packetrecorderd/internal/ui"
)

// uiSource is the fleet as the web UI reads it (ui.Source): packets from
// the sensors, flows from PostgreSQL, the timeline from the segment
// summaries the sensors shipped.
type uiSource struct{ h *Hub }

var _ ui.Source = uiSource{}

func (s uiSource) Select(ctx context.Context, spec selection.Spec) (*selection.Selection, error) {
	return s.h.Select(ctx, spec)
}

// ListFlows lists the flow records (the opener is the store's way).
func (s uiSource) ListFlows(ctx context.Context, spec selection.Spec, opts selection.FlowOptions, _ selection.Opener) (selection.FlowList, error) {
	return s.h.ListFlows(ctx, spec, opts)
}

// Segments are the sensors' segments retention has not deleted, each
// interface named SENSOR/IFACE.
func (s uiSource) Segments(ctx context.Context) ([]archive.Segment, error) {
	var out []archive.Segment
	err := s.h.db.with(ctx, func(c *pgx.Conn) error {
		out = out[:0]
		rows, err := c.Query(ctx, `SELECT sensor, interface, segment, first_ns, last_ns, packets, bytes, closed
			FROM prd_segments WHERE deleted_at IS NULL ORDER BY first_ns`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sensor, iface string
			var g archive.Segment
			if err := rows.Scan(&sensor, &iface, &g.File, &g.MinNS, &g.MaxNS, &g.Packets, &g.Bytes, &g.Closed); err != nil {
				return err
			}
			g.ID, g.Interface, g.Recording = int64(len(out)+1), sensor+"/"+iface, sensor
			out = append(out, g)
		}
		return rows.Err()
	})
	if err != nil {
		if ctx.Err() == nil && unreachable(err) {
			return nil, &UnavailableError{Err: fmt.Errorf("the timeline is drawn from its segment summaries: %w", err)}
		}
		return nil, fmt.Errorf("postgres: segments: %w", err)
	}
	return out, nil
}

// Handler is what the hub serves: the web UI under /ui/ over the fleet,
// the API everywhere else.
func (h *Hub) Handler() (http.Handler, error) {
	srv := h.Server()
	u, err := ui.New(ui.Options{API: srv, Source: uiSource{h}, Log: h.opts.Log})
	if err != nil {
		return nil, err
	}
	return ui.Mount(u, srv), nil
}

// metrics is the hub's /metrics: PostgreSQL reachable at the last
// listing, and the sensors it listed, on a registry of its own.
func (h *Hub) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "packetrecorder_hub_postgres_up",
			Help: "1 when PostgreSQL answered the hub's last listing of the sensors, else 0."},
			func() float64 {
				if h.pgUp.Load() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "packetrecorder_hub_sensors",
			Help: "Sensors prd_sensors listed at the hub's last listing."},
			func() float64 {
				ss, _ := h.lastKnown()
				return float64(len(ss))
			}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
