package testkit

import (
	"context"
	"errors"
	"net"
	"testing"
)

// NoDNS makes net.DefaultResolver answer from /etc/hosts only, failing
// every DNS question at once, until the test ends. Fuzz targets that
// reach the filter compiler's default resolver use it: a random host
// name would otherwise wait for a DNS server's timeout (5 s on a machine
// without one), longer than a whole CI fuzzing run.
func NoDNS(tb testing.TB) {
	tb.Helper()
	prev := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS in this test")
		},
	}
	tb.Cleanup(func() { net.DefaultResolver = prev })
}
