//go:build linux

// Package netlab builds throwaway network labs for integration tests: a
// network namespace joined to the test's own namespace by a veth pair, with
// addresses on both ends. Traffic a test sends to the peer address stays
// inside the lab. Every name is unique to the test, so packages running in
// parallel never collide, and everything is deleted in t.Cleanup.
//
// Tests that need a lab call Require first: without root it skips with
// advice, unless PRD_REQUIRE_PRIVILEGED=1 (as in CI), where it fails.
package netlab

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// Lab is a namespace ("the peer") connected to the test's namespace ("the
// host") by a veth pair.
type Lab struct {
	NS       string // namespace name, for ip netns exec
	HostIf   string // veth end in the test's namespace
	PeerIf   string // veth end inside NS
	HostIP   net.IP
	PeerIP   net.IP
	HostMAC  net.HardwareAddr
	PeerMAC  net.HardwareAddr
	t        testing.TB
	nsHandle int
}

// Privileged reports whether this process can build labs.
func Privileged() bool { return os.Geteuid() == 0 }

// Require skips the test when labs cannot be built, or fails it when
// PRD_REQUIRE_PRIVILEGED=1 says they must.
func Require(t testing.TB) {
	t.Helper()
	if Privileged() {
		if _, err := exec.LookPath("ip"); err == nil {
			return
		}
	}
	testkit.Missing(t, "needs root and iproute2 to build a network namespace lab (run: sudo go test ./...)")
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// New builds a lab. tag (a few letters) makes the names readable in
// `ip link` while the test runs.
func New(t testing.TB, tag string) *Lab {
	t.Helper()
	Require(t)
	id := randHex(3)
	if len(tag) > 4 {
		tag = tag[:4]
	}
	l := &Lab{
		NS:     fmt.Sprintf("prd-%s-%s", tag, id),
		HostIf: fmt.Sprintf("p%s%sh", tag, id), // at most 12 of the 15 characters allowed
		PeerIf: fmt.Sprintf("p%s%sp", tag, id),
		t:      t,
	}
	// A /30 in 10.213.0.0/16, picked at random and checked to be unused.
	for tries := 0; ; tries++ {
		var b [2]byte
		rand.Read(b[:])
		base := binary.BigEndian.Uint16(b[:]) &^ 3
		l.HostIP = net.IPv4(10, 213, byte(base>>8), byte(base)+1).To4()
		l.PeerIP = net.IPv4(10, 213, byte(base>>8), byte(base)+2).To4()
		if !addressInUse(l.HostIP) || tries > 20 {
			break
		}
	}
	Run(t, "ip", "netns", "add", l.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", l.NS).Run() })
	Run(t, "ip", "link", "add", l.HostIf, "type", "veth", "peer", "name", l.PeerIf)
	t.Cleanup(func() { exec.Command("ip", "link", "delete", l.HostIf).Run() })
	Run(t, "ip", "link", "set", l.PeerIf, "netns", l.NS)
	// No IPv6 on the lab links: router and neighbour solicitations would
	// add packets the tests did not send.
	os.WriteFile("/proc/sys/net/ipv6/conf/"+l.HostIf+"/disable_ipv6", []byte("1"), 0)
	Run(t, "ip", "netns", "exec", l.NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	Run(t, "ip", "addr", "add", l.HostIP.String()+"/30", "dev", l.HostIf)
	Run(t, "ip", "link", "set", l.HostIf, "up")
	Run(t, "ip", "netns", "exec", l.NS, "ip", "addr", "add", l.PeerIP.String()+"/30", "dev", l.PeerIf)
	Run(t, "ip", "netns", "exec", l.NS, "ip", "link", "set", l.PeerIf, "up")
	Run(t, "ip", "netns", "exec", l.NS, "ip", "link", "set", "lo", "up")
	hi, err := net.InterfaceByName(l.HostIf)
	if err != nil {
		t.Fatal(err)
	}
	l.HostMAC = hi.HardwareAddr
	mac := strings.Fields(Run(t, "ip", "netns", "exec", l.NS, "cat", "/sys/class/net/"+l.PeerIf+"/address"))
	if len(mac) == 1 {
		l.PeerMAC, _ = net.ParseMAC(mac[0])
	}
	fd, err := unix.Open("/var/run/netns/"+l.NS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.nsHandle = fd
	t.Cleanup(func() { unix.Close(fd) })
	return l
}

func addressInUse(ip net.IP) bool {
	out, _ := exec.Command("ip", "-4", "addr").Output()
	prefix := ip.String()
	prefix = prefix[:strings.LastIndexByte(prefix, '.')]
	return strings.Contains(string(out), prefix+".")
}

// InPeer runs fn on an OS thread that has entered the peer namespace.
// Sockets fn creates belong to the peer namespace and stay usable from any
// goroutine afterwards. The thread is discarded when fn returns.
func (l *Lab) InPeer(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Not unlocked: the thread exits with the goroutine, so no other
		// goroutine ever runs in the peer namespace.
		runtime.LockOSThread()
		if err := unix.Setns(l.nsHandle, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", l.NS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// PeerUDP opens a UDP socket in the peer namespace.
func (l *Lab) PeerUDP() *net.UDPConn {
	l.t.Helper()
	var c *net.UDPConn
	err := l.InPeer(func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: l.PeerIP})
		return err
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.Close() })
	return c
}

// PeerCommand returns a command that runs inside the peer namespace.
func (l *Lab) PeerCommand(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
}
