package daemon

import (
	"net/http"

	"github.com/packetrecorderd/packetrecorderd/internal/ui"
)

// handler is what the daemon serves on its listen address: the web UI
// under /ui/ (and / redirects there), the API everywhere else.
func (d *Daemon) handler() (http.Handler, error) {
	u, err := ui.New(ui.Options{API: d.api, Store: d.storeDir, Log: d.log})
	if err != nil {
		return nil, err
	}
	return ui.Mount(u, d.api), nil
}
