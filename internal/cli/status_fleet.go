package cli

import (
	"fmt"
	"io"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

// printFleet prints the fleet lines of status: where the outbox stands,
// what was shipped and dropped, and the last error.
func printFleet(w io.Writer, f *daemon.FleetStatus) {
	if f == nil {
		return
	}
	state := "connected"
	if !f.Connected {
		state = "not connected"
	}
	fmt.Fprintf(w, "fleet %s: %s; outbox %d records, %d of %d bytes; shipped %d, dropped %d",
		printable(f.Sensor), state, f.OutboxRecords, f.OutboxBytes, f.OutboxMax, f.Shipped, f.Dropped)
	if f.LastSuccessAt != nil {
		fmt.Fprintf(w, "; last shipped %s", f.LastSuccessAt.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintln(w)
	if f.Dropped > 0 {
		fmt.Fprintf(w, "FLEET RECORDS DROPPED: %d since the start (the outbox was full)\n", f.Dropped)
	}
	if f.LastError != "" && !f.Connected {
		fmt.Fprintf(w, "fleet error: %s\n", printable(f.LastError))
	}
	if f.OutboxWriteError != "" {
		fmt.Fprintf(w, "fleet outbox write error: %s\n", printable(f.OutboxWriteError))
	}
}
