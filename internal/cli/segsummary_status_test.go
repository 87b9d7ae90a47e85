package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/packetrecorderd/packetrecorderd/internal/daemon"
)

// TestStatusUnsummarized: packetrecorder status says how many closed
// segments lack a summary, and who builds them; nothing when none do.
func TestStatusUnsummarized(t *testing.T) {
	for _, c := range []struct {
		idx  daemon.IndexStatus
		want string
	}{
		{daemon.IndexStatus{SegmentsUnsummarized: 7, Building: true}, "\nindex: 7 closed segments without a summary, opened by every query; the daemon is building them\n"},
		{daemon.IndexStatus{SegmentsUnsummarized: 1}, "\nindex: 1 closed segment without a summary, opened by every query; packetrecorder reindex -d STORE builds them\n"},
		{daemon.IndexStatus{SegmentsSummarized: 3}, ""},
	} {
		var out bytes.Buffer
		a := &app{stdout: &out}
		if err := a.printStatus(daemon.Status{Index: c.idx}); err != nil {
			t.Fatal(err)
		}
		if c.want == "" && strings.Contains(out.String(), "index:") || c.want != "" && !strings.Contains(out.String(), c.want) {
			t.Errorf("%+v: status says\n%s\nwant %q", c.idx, out.String(), c.want)
		}
	}
}
