package filter

import (
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/packetrecorderd/packetrecorderd/internal/testkit"
)

// kernelAccepts attaches prog to a packet socket that is never bound
// (it receives nothing): the kernel's checker says whether it takes it.
func kernelAccepts(t *testing.T, prog []bpf.RawInstruction) error {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("packet socket: %v", err)
	}
	defer unix.Close(fd)
	filters := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filters[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filters)), Filter: &filters[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
}

// TestLongChainsKernel attaches the optimized kernel programs of the
// long chains to a socket: the kernel must take them.
func TestLongChainsKernel(t *testing.T) {
	testkit.RequireRoot(t, "attaching a filter needs a packet socket (run: sudo go test ./internal/filter/)")
	for _, c := range longChains {
		for _, opts := range []Options{{LinkType: LinkTypeEthernet, Live: true}, {LinkType: LinkTypeRaw, Live: true}, {LinkType: LinkTypeLinuxSLL2}} {
			p, err := Compile(c.expr, opts)
			if err != nil {
				t.Fatalf("%s %s: %v", LinkTypeName(opts.LinkType), c.name, err)
			}
			if err := kernelAccepts(t, p.KernelInstructions()); err != nil {
				t.Errorf("%s %s: the kernel refuses the program (%d instructions): %v", LinkTypeName(opts.LinkType), c.name, len(p.KernelInstructions()), err)
			}
		}
	}
}
