package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

// TestCaptureCompressionSkippedSummary: capture's statistics say how many
// blocks went in uncompressed because the writer fell behind, in one
// line, and say nothing when none did.
func TestCaptureCompressionSkippedSummary(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, ""},
		{1, "1 block stored uncompressed: the writer fell behind (compression skipped to keep up)\n"},
		{37, "37 blocks stored uncompressed: the writer fell behind (compression skipped to keep up)\n"},
	} {
		var b bytes.Buffer
		printCompressionSkipped(&b, c.n)
		if b.String() != c.want {
			t.Errorf("%d skipped: %q, want %q", c.n, b.String(), c.want)
		}
	}
}

// TestStatusCompressionSkipped: packetrecorder status gives an interface
// whose blocks went in uncompressed one line saying how many, and the
// others none.
func TestStatusCompressionSkipped(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out}
	st := daemon.Status{Interfaces: []daemon.InterfaceStatus{{Name: "eth0", State: "recording", CompressionSkipped: 12}, {Name: "eth1", State: "recording"}}}
	if err := a.printStatus(st); err != nil {
		t.Fatal(err)
	}
	if want := "\neth0: 12 blocks stored uncompressed: the writer fell behind (compression skipped to keep up)\n"; !strings.Contains(out.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "eth1:") {
		t.Errorf("eth1 skipped nothing:\n%s", out.String())
	}
}
