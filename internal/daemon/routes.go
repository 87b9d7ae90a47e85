package daemon

import (
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/packetrecorderd/packetrecorderd/internal/api"
	"github.com/packetrecorderd/packetrecorderd/internal/selection"
)

// newAPI is the daemon's HTTP interface: the API over the store, with the
// daemon's status, health and metrics.
func (d *Daemon) newAPI() *api.Server {
	return api.New(api.Options{
		Selector:   selection.Store{Dir: d.storeDir},
		Holds:      api.StoreHolds(d.storeDir),
		Status:     func() any { return d.status() },
		Interfaces: func() any { return d.status().Interfaces },
		Health:     d.handleHealthz,
		Metrics:    promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}),
		Version:    d.version,
		Log:        d.log,
	}, d.cfg.access())
}
