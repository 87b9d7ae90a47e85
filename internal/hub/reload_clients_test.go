package hub

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHubReloadClosesSensorConns: a reload makes new clients towards the
// sensors (their credentials read again); the connections the old ones
// keep idle are closed at once, as the sensor sees them. Before, they
// stayed open, unused, until the sensor's idle timeout, one more at each
// reload, counting against the hub's connections at the sensor.
func TestHubReloadClosesSensorConns(t *testing.T) {
	closed := make(chan struct{}, 16)
	sensor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "{}")
	}))
	sensor.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	sensor.Start()
	defer sensor.Close()

	h, _ := newFileHub(t, "")
	defer h.Close()
	ask := func() {
		t.Helper()
		c, err := h.client(sensor.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(context.Background(), "GET", "/api/v1/status", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	ask()
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection of the client a reload replaced is still open 5 s later")
	}
	ask() // the new client answers
	select {
	case <-closed:
		t.Fatal("the new client's connection was closed")
	default:
	}
}
