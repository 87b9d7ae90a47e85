package daemon

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// notifier speaks systemd's notify protocol: datagrams of "KEY=VALUE"
// lines to the unix socket named by NOTIFY_SOCKET. Without it every call
// does nothing.
type notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // WATCHDOG_USEC, 0 when the unit sets none
}

func newNotifier() *notifier {
	n := &notifier{}
	if path := os.Getenv("NOTIFY_SOCKET"); path != "" {
		if strings.HasPrefix(path, "@") {
			path = "\x00" + path[1:] // an abstract socket
		}
		n.addr = &net.UnixAddr{Name: path, Net: "unixgram"}
	}
	if usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && usec > 0 {
		pid, perr := strconv.Atoi(os.Getenv("WATCHDOG_PID"))
		if perr != nil || pid == os.Getpid() {
			n.watchdog = time.Duration(usec) * time.Microsecond
		}
	}
	return n
}

// send sends one state message, such as "READY=1".
func (n *notifier) send(state ...string) error {
	if n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	defer conn.Close()
	_, err = conn.Write([]byte(strings.Join(state, "\n") + "\n"))
	if err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}
